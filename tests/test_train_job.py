"""The deep mapping job: one short run of every deep config's runlocal variant, resuming on the
same workdir, its helpers against float64 NumPy references, and bad input surfacing clearly
through the job and the launcher."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import mapping_configs
from inverse3d.jobs import train as train_job
from inverse3d.mapping.data import model_images, resolve_shape_shape, training_pairs
from inverse3d.mapping.scores import evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("deep_faces", "deep_objects", "deep_alexnet", "deep_components", "deep_semisup")


def get_config(name, arg="runlocal"):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def figures(workdir):
  return sorted(os.listdir(os.path.join(workdir, "figures")))


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory):
  """The deep_faces runlocal job, run once: (workdir, results)."""
  workdir = str(tmp_path_factory.mktemp("faces"))
  return workdir, train_job.run(get_config("deep_faces"), workdir)


def row_kinds(results, config):
  """[(name, kind)] of results.json's rows, after checking each row's fields and that the
  baselines' scores are those of rows fitted on the same pairs (the schema)."""
  second = "iou" if results["datasets"][config.data.name]["kind"] == "voxels" else "vertex_error"
  for row in results["rows"]:
    assert {"dataset", "name", "kind", "rmse", "rmse_per_view", second} <= set(row), row
    assert row["dataset"] == config.data.name and np.isfinite(row["rmse"])
    assert ("labeled_fraction" in row) == (row["name"] not in ("mean_shape", "class_mean",
                                                               "oracle_retrieval"))
  return [(row["name"], row["kind"]) for row in results["rows"]]


def deep_rows(results):
  return {r["name"]: r for r in results["rows"] if r["kind"] == "deep"}


def test_faces_runlocal_writes_results_metrics_and_figures(faces_run):
  workdir, results = faces_run
  main, test = results["runs"]["main"], deep_rows(results)["main"]
  assert main["stages"] == ["mapping", "finetune"]  # the PCA-initialised AEs skip their stages
  assert main["n_labeled"] == 24 * 3  # every shape with its three views
  assert 0 < test["rmse"] < 1 and len(test["rmse_per_view"]) == 3
  assert np.isclose(test["rmse"] ** 2, np.mean(np.square(test["rmse_per_view"])))
  assert results["datasets"] == {"procedural_faces": {
      "kind": "points", "n_train": 24, "n_test": 8, "views": 3, "n_train_pairs": 72,
      "n_test_pairs": 24}}
  assert row_kinds(results, get_config("deep_faces")) == [
      ("main", "deep"), ("lowdim", "closed_form"), ("direct", "closed_form"),
      ("mean_shape", "baseline"), ("nn_retrieval_pixels", "baseline"),
      ("nn_retrieval_codes", "baseline"), ("oracle_retrieval", "baseline")]
  rows = {r["name"]: r for r in results["rows"]}
  assert rows["nn_retrieval_codes"]["encoder"] == "main"
  assert rows["oracle_retrieval"]["rmse"] <= rows["nn_retrieval_pixels"]["rmse"]
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f) == json.loads(json.dumps(results))
  assert figures(workdir) == ["curves.png", "heatmap.png", "poses_main.png", "samples_main.png"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    lines = [json.loads(line) for line in f]
  assert [r["run"] for r in lines] == ["main", "closed_form_lowdim", "closed_form_direct",
                                       "baseline_mean_shape", "baseline_nn_retrieval_pixels",
                                       "baseline_nn_retrieval_codes",
                                       "baseline_oracle_retrieval"]
  with open(os.path.join(workdir, "results.md")) as f:
    assert "| procedural_faces | main: linear / ff / linear | 72 |" in f.read()


def test_rerun_on_the_same_workdir_resumes_without_training(faces_run, tmp_path):
  workdir, results = faces_run
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  with open(os.path.join(copy, "runs", "main", "metrics.jsonl")) as f:
    before = f.read()
  again = train_job.run(get_config("deep_faces"), copy)
  with open(os.path.join(copy, "runs", "main", "metrics.jsonl")) as f:
    assert f.read() == before  # no step ran again
  assert again["rows"] == results["rows"]


@pytest.mark.parametrize("name", [c for c in CONFIGS if c != "deep_faces"])
def test_every_runlocal_config_runs_one_step_per_stage(name, tmp_path):
  config = get_config(name)
  results = train_job.run(config, str(tmp_path))
  assert sorted(results["runs"]) == sorted(deep_rows(results)) == sorted(config.runs)
  for run in results["runs"].values():
    assert set(run["steps"].values()) <= {1, 2}
  kinds = row_kinds(results, config)
  fractions = len({r["labeled_fraction"] for r in results["runs"].values()})
  assert kinds.count(("nn_retrieval_codes", "baseline")) == len(config.runs)
  assert kinds.count(("nn_retrieval_pixels", "baseline")) == fractions
  assert kinds.count(("lowdim", "closed_form")) == fractions
  assert (("class_mean", "baseline") in kinds) == (name == "deep_objects")
  if name == "deep_semisup":
    assert "labeled.png" in figures(tmp_path)
    counts = {r["labeled_fraction"]: r["n_labeled"] for r in results["runs"].values()}
    assert counts == {0.3: round(0.3 * 72), 1.0: 72}


def test_run_config_replaces_component_specs_whole():
  config = mapping_configs.base_config("procedural_objects", runlocal=True)
  config.runs = {"c": mapping_configs.choice("procedural_objects", image_encoder="conv",
                                             shape_decoder="conv", pca_init=False)}
  config.model.image_encoder.hidden = (7,)
  config.model.shape_code = 7
  merged = train_job.run_config(config, "c", (30, 30, 30))
  assert merged.model.image_encoder.to_dict() == {"name": "conv", "impl": "auto"}  # no leftovers
  assert merged.model.shape_code == 7  # fields a run leaves alone stay the base's
  assert merged.model.image_code == 8 and merged.pca_init is False
  assert merged.train.stages == ("image_ae", "shape_ae", "mapping", "finetune")
  config.runs.c.bogus = 1
  with pytest.raises(ValueError, match=r"config.runs.c: expected fields.*unknown \['bogus'\]"):
    train_job.run_config(config, "c", (30, 30, 30))


def test_only_training_configs_keep_freed_memory():
  """The launcher applies inverse3d.host_memory to configs that ask for it: the training ones,
  not the closed-form Table 2 job (whose heap it would fragment)."""
  for name in CONFIGS:
    assert get_config(name).keep_freed_memory is True, name
  table2 = get_config("table2")
  assert not table2.get("keep_freed_memory", False)


@pytest.mark.parametrize("name", CONFIGS)
def test_full_configs_have_more_shapes_than_pca_components(name):
  """PCA of n centred shapes has at most n - 1 components: every full-size config must give
  the shape code (98 faces, 400 objects) more training shapes than that."""
  checked = 0
  for dataset in ("procedural_faces", "ict_faces", "procedural_objects", "modelnet10"):
    try:
      config = get_config(name, f"dataset={dataset}")
    except ValueError as e:  # deep_faces takes faces only, deep_objects objects only
      assert f"configs/{name}.py: argument 'dataset': expected one of" in str(e)
      continue
    checked += 1
    assert config.data.n_train > config.model.shape_code, (name, dataset)
  assert checked >= 2


def test_semisup_steps_give_supervised_runs_the_same_total():
  config = get_config("deep_semisup", "dataset=modelnet10,fractions=0.1+1.0,steps=300")
  assert dict(config.train.steps) == {"mapping": 300, "finetune": 300}
  assert sorted(config.runs) == ["pre_0p1", "pre_1", "sup_0p1", "sup_1"]
  assert dict(config.runs.sup_0p1.train.steps) == {"finetune": 600}
  assert config.runs.pre_0p1.train.labeled_fraction == 0.1


def test_pca_init_drops_only_linear_autoencoder_stages():
  faces = mapping_configs.choice("procedural_faces", shape_decoder="ff")
  assert tuple(faces.train.stages) == ("shape_ae", "mapping", "finetune")
  assert tuple(mapping_configs.choice("procedural_faces", pca_init=False).train.stages) == (
      "image_ae", "shape_ae", "mapping", "finetune")


def test_training_pairs_take_distinct_views_of_every_shape():
  shapes, views = training_pairs(jax.random.key(0), 50, 8, 3)
  assert np.array_equal(shapes, np.repeat(np.arange(50), 3))
  per_shape = views.reshape(50, 3)
  assert all(len(set(row)) == 3 for row in per_shape) and views.min() >= 0 and views.max() < 8
  assert len({tuple(row) for row in per_shape}) > 1  # random, not the same views everywhere
  _, every = training_pairs(jax.random.key(0), 4, 3, 3)
  assert np.array_equal(every, np.tile(np.arange(3), 4))
  with pytest.raises(ValueError, match=r"views_per_shape: expected an integer in \[1, 8\]"):
    training_pairs(jax.random.key(0), 4, 8, 9)


def test_model_images_resize_and_repeat_channels():
  rng = np.random.default_rng(0)
  images = rng.random((2, 8, 8)).astype(np.float32)
  same = model_images(images, (8, 8, 1))
  np.testing.assert_array_equal(same[..., 0], images)
  big = model_images(np.full((1, 8, 8), 0.25, np.float32), (20, 20, 3))
  assert big.shape == (1, 20, 20, 3)
  np.testing.assert_allclose(big, 0.25, atol=1e-6)  # a constant image stays constant


def test_resolve_shape_shape_fills_vertices_and_names_mismatches():
  assert resolve_shape_shape((None, 3), (4017, 3)) == (4017, 3)
  with pytest.raises(ValueError, match=r"shape_shape: expected a shape matching the dataset's "
                                       r"\(30, 30, 30\).*got \(None, 3\)"):
    resolve_shape_shape((None, 3), (30, 30, 30))


def test_evaluate_matches_numpy_float64():
  rng = np.random.default_rng(1)
  n, views, v = 7, 3, 5
  test = {"images": rng.random((n, views, 4, 4)).astype(np.float32),
          "shapes": rng.random((n, v * 3)).astype(np.float32)}
  weights = rng.normal(size=(16, v * 3)).astype(np.float32)

  def predict(x):
    return x @ weights

  out = evaluate(predict, test, "points", (v, 3), batch_size=3, keep=2)
  pred = np.einsum("nad,dk->nak", test["images"].reshape(n, views, 16).astype(np.float64),
                   weights.astype(np.float64))
  err = pred - test["shapes"][:, None].astype(np.float64)
  np.testing.assert_allclose(out["rmse"], np.sqrt(np.mean(err ** 2)), rtol=1e-5)
  np.testing.assert_allclose(out["rmse_per_view"], np.sqrt(np.mean(err ** 2, axis=(0, 2))),
                             rtol=1e-5)
  vertex = np.linalg.norm(err.reshape(n, views, v, 3), axis=-1).mean((0, 1))
  np.testing.assert_allclose(out["vertex_error_map"], vertex, rtol=1e-5)
  np.testing.assert_allclose(out["kept"], pred[:2], rtol=1e-5)

  voxels = {"images": test["images"], "shapes": (rng.random((n, 8)) > 0.5).astype(np.float32)}
  got = evaluate(lambda x: x[:, :8], voxels, "voxels", (2, 2, 2), batch_size=4)
  occupied = voxels["images"].reshape(n, views, 16)[..., :8] > 0.5
  truth = voxels["shapes"][:, None] > 0.5
  union = (occupied | truth).sum(-1)
  iou = np.where(union > 0, (occupied & truth).sum(-1) / np.maximum(union, 1), 1.0)
  np.testing.assert_allclose(got["iou"], iou.mean(), rtol=1e-6)


def test_validation_curve_counts_finetune_epochs(tmp_path):
  path = tmp_path / "metrics.jsonl"
  records = [{"stage": "mapping", "step": 10, "test_rmse": 9.0},
             {"stage": "finetune", "step": 11, "loss": 1.0},
             {"stage": "finetune", "step": 15, "test_rmse": 0.5},
             {"stage": "finetune", "step": 20, "test_rmse": 0.4}]
  path.write_text("".join(json.dumps(r) + "\n" for r in records))
  epochs, rmse = train_job.validation_curve(str(path), batch_size=8, n_labeled=40)
  np.testing.assert_allclose(epochs, [5 * 8 / 40, 10 * 8 / 40])
  np.testing.assert_allclose(rmse, [0.5, 0.4])


def test_deep_configs_refuse_datasets_of_the_other_kind():
  """The parser itself is tested in test_configs.py."""
  with pytest.raises(ValueError, match=r"configs/deep_faces.py: argument 'dataset': expected one "
                                       r"of procedural_faces, ict_faces, got 'modelnet10'"):
    get_config("deep_faces", "dataset=modelnet10")


# Bad input through the job and the launcher.

def test_unknown_component_name_fails_in_the_launcher_naming_the_field(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "launch.main", "--config", "configs/deep_faces.py:runlocal",
       "--workdir", str(tmp_path), "--config.model.mapping.name=transformer"],
      cwd=REPO, capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode != 0
  assert ("ValueError: config.model.mapping.name: expected one of "
          "['alexnet', 'conv', 'ff', 'linear'], got 'transformer'") in result.stderr
  assert not os.path.exists(tmp_path / "runs")  # refused before anything trained


def test_alexnet_encoder_on_wrong_image_size_is_refused(tmp_path):
  config = get_config("deep_alexnet")
  config.model.image_shape = (32, 32, 3)
  with pytest.raises(ValueError, match=r"config.model.image_encoder: expected 'alexnet' only as "
                                       r"image_encoder on images of shape \(227, 227, 3\)"):
    train_job.run(config, str(tmp_path))
  assert not os.path.exists(tmp_path / "runs")


def test_nan_in_the_dataset_fails_before_training_naming_it(tmp_path, monkeypatch):
  make = train_job.make_paired_dataset

  def with_nan(*args, **kwargs):
    dataset = make(*args, **kwargs)
    dataset["train"]["images"] = np.array(dataset["train"]["images"])
    dataset["train"]["images"][:, :, 0, 0] = np.nan
    return dataset

  monkeypatch.setattr(train_job, "make_paired_dataset", with_nan)
  config = get_config("deep_faces")
  config.pca_init = False
  with pytest.raises(ValueError, match=r"procedural_faces train images: expected finite values"):
    train_job.run(config, str(tmp_path))
  assert not (tmp_path / "runs").exists()


def test_incompatible_checkpoint_and_data_are_refused(faces_run, tmp_path):
  workdir, _ = faces_run
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  config = get_config("deep_faces")
  config.model.mapping.hidden = (50,)
  with pytest.raises(ValueError, match=r"expected one written by this config, got one from an "
                                       r"incompatible config \(model.mapping.hidden"):
    train_job.run(config, copy)
  config = get_config("deep_faces")
  config.data.n_train = 30
  with pytest.raises(ValueError, match=r"expected config.data as recorded in .*data.json, got "
                                       r"different n_train: 24 there, 30 now"):
    train_job.run(config, copy)
