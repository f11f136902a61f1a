"""The closed-form Table 2 job, end to end on its runlocal variant, and its config."""
import importlib.util
import json
import os

import numpy as np
import pytest

from inverse3d.jobs import table2
from inverse3d.mapping.scores import BASELINES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(arg):
  spec = importlib.util.spec_from_file_location("table2_config",
                                                os.path.join(REPO, "configs", "table2.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.fixture(scope="module")
def procedural_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("table2")
  return workdir, table2.run(_config("runlocal"), str(workdir))


def scores_of(results, dataset):
  return {r["name"]: r for r in results["rows"] if r["dataset"] == dataset}


def test_results_and_files(procedural_run):
  workdir, results = procedural_run
  assert set(results["datasets"]) == {"procedural_faces", "procedural_objects"}
  for name, sizes in results["datasets"].items():
    r = scores_of(results, name)
    # Both closed forms learn something: better than predicting the mean shape.
    assert r["lowdim"]["rmse"] < r["mean_shape"]["rmse"]
    assert r["direct"]["rmse"] < r["mean_shape"]["rmse"]
    # No retrieval beats the oracle's RMSE, its ceiling.
    assert r["oracle_retrieval"]["rmse"] <= min(r["nn_retrieval_pixels"]["rmse"],
                                                r["nn_retrieval_codes"]["rmse"])
    assert len(r["lowdim"]["rmse_per_view"]) == sizes["views"]
    for suffix in ("samples", "sweep"):
      assert (workdir / "figures" / f"table2_{name}_{suffix}.png").stat().st_size > 10_000
  assert (workdir / "figures" / "table2_procedural_faces_heatmap.png").exists()
  objects = scores_of(results, "procedural_objects")
  assert objects["lowdim"]["iou"] > objects["mean_shape"]["iou"]
  assert objects["class_mean"]["iou"] > objects["mean_shape"]["iou"]
  assert json.loads((workdir / "results.json").read_text()) == json.loads(json.dumps(results))
  table = (workdir / "results.md").read_text()
  assert table.count("\n| procedural_") == len(results["rows"])


def test_results_schema(procedural_run):
  """Every row names its dataset, method and kind, with the scores of its dataset's kind."""
  workdir, results = procedural_run
  results = json.loads((workdir / "results.json").read_text())
  sizes = results["datasets"]["procedural_objects"]
  assert sizes == {"kind": "voxels", "n_train": 120, "n_test": 40, "views": 8,
                   "n_train_pairs": 960, "n_test_pairs": 320, "k_image": 20, "k_shape": 40,
                   "ridge": 0.0}
  kinds = {}
  for row in results["rows"]:
    second = "iou" if results["datasets"][row["dataset"]]["kind"] == "voxels" else "vertex_error"
    assert {"dataset", "name", "kind", "rmse", second} <= set(row), row
    assert row["rmse"] > 0 and 0 < row[second] < 1
    kinds.setdefault(row["dataset"], []).append((row["name"], row["kind"]))
  closed = [("lowdim", "closed_form"), ("direct", "closed_form")]
  assert kinds["procedural_objects"] == closed + [(name, "baseline") for name in BASELINES]
  assert kinds["procedural_faces"] == closed + [(name, "baseline") for name in BASELINES
                                                if name != "class_mean"]


def test_sweep_written_as_json_lines(procedural_run):
  workdir, _ = procedural_run
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  knobs = {(r["dataset"], r.get("knob")) for r in rows}
  assert ("procedural_objects", "ridge") in knobs and ("procedural_faces", "k_shape") in knobs
  assert all(r["rmse"] > 0 for r in rows)


def test_sweep_rmse_in_code_space_equals_decoded_rmse(procedural_run):
  # The sweep computes RMSE from codes (Pythagoras); at the main setting it must equal the RMSE
  # of the decoded predictions that the table reports.
  workdir, results = procedural_run
  config = _config("runlocal")
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  for name, sizes in results["datasets"].items():
    r = scores_of(results, name)
    main = [row for row in rows if row["dataset"] == name and row.get("knob") == "k_image"
            and row["value"] == config.k_image]
    assert len(main) == 1
    np.testing.assert_allclose(main[0]["rmse"], r["lowdim"]["rmse"], rtol=1e-4)
    # Direct LS scored from test-set moments equals its decoded RMSE (ridge 0 = main setting),
    # and so does each method with every training shape labeled.
    direct = [row for row in rows if row["dataset"] == name and row.get("knob") == "ridge"
              and row["value"] == 0 and row["method"] == "direct"]
    np.testing.assert_allclose(direct[0]["rmse"], r["direct"]["rmse"], rtol=1e-3)
    for method in ("lowdim", "direct"):
      full = [row for row in rows if row["dataset"] == name and row.get("knob") == "n_labeled"
              and row["value"] == sizes["n_train"] and row["method"] == method]
      np.testing.assert_allclose(full[0]["rmse"], r[method]["rmse"], rtol=1e-3)


def test_config_variants():
  assert _config("dataset=all").datasets == ("procedural_faces", "procedural_objects",
                                             "modelnet10", "ict_faces")
  assert _config("dataset=modelnet10").datasets == ("modelnet10",)
  with pytest.raises(ValueError, match=r"configs/table2.py: unknown argument 'datset' \(did you "
                                       r"mean 'dataset'\?\)"):
    _config("datset=modelnet10")
