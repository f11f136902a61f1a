"""The mapping's training loop on the core's checkpoints: a run killed with SIGKILL and restarted
ends with the same parameters as an uninterrupted run; a finished run reruns as a no-op;
incompatible checkpoints (any trajectory field), NaN data and a diverging loss stop with clear
errors; all four stages train and log."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from inverse3d.mapping import default_config, train
from inverse3d.train.checkpoint import config_fingerprint, fingerprint_differences

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(stages=("shape_ae", "mapping"), steps=20):
  """FF components on 8x8 images and 10-point clouds, codes 6 and 5, batch 8."""
  config = default_config("points", shape_shape=(10, 3), image_shape=(8, 8, 1),
                          image_encoder="ff", mapping="ff", shape_decoder="ff")
  config.model.image_code, config.model.shape_code = 6, 5
  for slot in ("image_encoder", "image_decoder", "mapping", "shape_encoder", "shape_decoder"):
    config.model[slot].hidden = (8,)
  config.train.stages = stages
  config.train.steps = {name: steps for name in stages}
  config.train.batch_size = 8
  config.train.log_every = 1
  config.train.checkpoint_every = 5
  config.train.optimizer.learning_rate = 1e-2
  return config


def tiny_data(n=24, seed=0):
  rng = np.random.default_rng(seed)
  return {"images": rng.random((n, 8, 8, 1), dtype=np.float32),
          "shapes": rng.random((n, 10, 3), dtype=np.float32)}


def read_metrics(workdir):
  if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
    return []
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


# A training process for the kill test: 2 stages x 60 steps, a checkpoint every 5 steps.
TRAIN_SCRIPT = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from test_checkpoint import tiny_config, tiny_data
from inverse3d.files import atomic_write
from inverse3d.mapping import train
params = train(tiny_config(steps=60), sys.argv[1], tiny_data())["params"]
flat = {"/".join(map(str, k)): v for k, v in
        __import__("flax").traverse_util.flatten_dict(params).items()}
with atomic_write(sys.argv[2]) as f:
  np.savez(f, **flat)
"""


def start_training(workdir, out, cache):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, str(workdir), str(out),
                           os.path.dirname(os.path.abspath(__file__))],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def committed_steps(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(name) for name in os.listdir(folder) if name.isdigit()) \
      if os.path.isdir(folder) else []


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
  whole, killed = tmp_path / "whole", tmp_path / "killed"
  cache = tmp_path / "xla_cache"  # later processes reuse the first one's compiled steps
  reference = start_training(whole, tmp_path / "whole.npz", cache)
  _, err = reference.communicate(timeout=240)
  assert reference.returncode == 0, err[-3000:]
  victim = start_training(killed, tmp_path / "killed.npz", cache)
  deadline = time.time() + 240
  while not any(s >= 10 for s in committed_steps(killed)):
    assert victim.poll() is None, victim.communicate()[1][-3000:]
    assert time.time() < deadline, "no checkpoint appeared"
    time.sleep(0.02)
  victim.send_signal(signal.SIGKILL)
  victim.wait()
  assert victim.returncode == -signal.SIGKILL
  assert max(committed_steps(killed)) < 120 and not (tmp_path / "killed.npz").exists()
  resumed = start_training(killed, tmp_path / "killed.npz", cache)
  _, err = resumed.communicate(timeout=240)
  assert resumed.returncode == 0, err[-3000:]
  with np.load(tmp_path / "whole.npz") as a, np.load(tmp_path / "killed.npz") as b:
    assert sorted(a.files) == sorted(b.files) and len(a.files) == 20
    for name in a.files:
      np.testing.assert_array_equal(a[name], b[name], err_msg=name)
  # The resumed log has every step once, as the uninterrupted one.
  steps = [r["step"] for r in read_metrics(killed)]
  assert steps == [r["step"] for r in read_metrics(whole)] == list(range(1, 121))


def test_all_four_stages_train_log_and_evaluate(tmp_path):
  config = tiny_config(stages=("image_ae", "shape_ae", "mapping", "finetune"), steps=15)
  config.train.labeled_fraction = 0.5
  config.train.mapping_target = "shape"
  data = {**tiny_data(), "test_images": tiny_data(8, 1)["images"],
          "test_shapes": tiny_data(8, 1)["shapes"], "extra_shapes": tiny_data(16, 2)["shapes"]}
  params = train(config, tmp_path, data)["params"]
  records = read_metrics(tmp_path)
  assert [r["step"] for r in records] == list(range(1, 61))
  for i, stage in enumerate(config.train.stages):
    mine = records[15 * i:15 * (i + 1)]
    assert {r["stage"] for r in mine} == {stage}
    assert mine[-1]["loss"] < mine[0]["loss"], stage
    assert "test_rmse" in mine[-1] and 0 < mine[-1]["test_rmse"] < 1
  assert set(params) == {"image_encoder", "image_decoder", "mapping", "shape_encoder",
                         "shape_decoder"}


def test_rerun_of_a_finished_run_is_a_no_op(tmp_path):
  config, data = tiny_config(stages=("mapping",), steps=6), tiny_data()
  first = train(config, tmp_path, data)
  lines = read_metrics(tmp_path)
  again = train(config, tmp_path, data)  # finished: restores step 6, trains nothing
  np.testing.assert_array_equal(again["params"]["mapping"]["out"]["kernel"],
                                first["params"]["mapping"]["out"]["kernel"])
  np.testing.assert_array_equal(again["labeled_rows"], first["labeled_rows"])
  assert again["train_seconds"] == first["train_seconds"] > 0
  assert read_metrics(tmp_path) == lines and [r["step"] for r in lines] == list(range(1, 7))


@pytest.mark.parametrize("field, value", [("train.optimizer.learning_rate", 0.05),
                                          ("train.optimizer.clip_norm", 1.0),
                                          ("train.labeled_fraction", 0.5), ("seed", 3)])
def test_resume_with_any_trajectory_change_is_refused(tmp_path, field, value):
  config = tiny_config(stages=("mapping",), steps=5)
  train(config, tmp_path, tiny_data())
  changed = tiny_config(stages=("mapping",), steps=5)
  changed.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=f"{field}: .* in the checkpoint, {value!r} in this "
                                       f"config"):
    train(changed, tmp_path, tiny_data())


def test_fingerprint_leaves_out_only_what_cannot_change_the_run():
  config = tiny_config()
  fingerprint = config_fingerprint(config)
  assert "train.optimizer.learning_rate" in fingerprint and "seed" in fingerprint
  assert not {"train.log_every", "train.eval_every", "train.checkpoint_every",
              "train.keep_checkpoints"} & set(fingerprint)
  config.train.log_every, config.train.checkpoint_every = 7, 3
  assert config_fingerprint(config) == fingerprint


def test_incompatible_checkpoint_is_refused(tmp_path):
  train(tiny_config(stages=("mapping",), steps=5), tmp_path, tiny_data())
  other = tiny_config(stages=("mapping",), steps=5)
  other.model.mapping = {"name": "linear"}
  with pytest.raises(ValueError) as err:
    train(other, tmp_path, tiny_data())
  message = str(err.value)
  assert "expected one written by this config, got one from an incompatible config" in message
  assert "model.mapping.name: 'ff' in the checkpoint, 'linear' in this config" in message


@pytest.mark.parametrize("key", ["shapes", "test_images"])
def test_nan_in_the_data_fails_before_training_naming_the_array(tmp_path, key):
  data = {**tiny_data(16), "test_images": tiny_data(8, 1)["images"],
          "test_shapes": tiny_data(8, 1)["shapes"]}
  data[key][5, 3, 1] = np.nan
  with pytest.raises(ValueError, match=rf"data\['{key}'\]: expected finite values, got 1 NaN"):
    train(tiny_config(stages=("shape_ae", "mapping"), steps=10), tmp_path, data)
  assert read_metrics(tmp_path) == [] and not (tmp_path / "checkpoints").exists()


def test_diverging_loss_stops_naming_the_step(tmp_path):
  config = tiny_config(stages=("shape_ae",), steps=10)
  config.train.optimizer.update({"name": "sgd", "momentum": 0.0, "schedule": "constant",
                                 "learning_rate": 1e30})
  config.train.checkpoint_every = 1
  with pytest.raises(FloatingPointError, match=r"train, step (\d+), stage shape_ae: expected a "
                                               r"finite loss") as err:
    train(config, tmp_path, tiny_data())
  step = int(err.value.args[0].split("step ")[1].split(",")[0])
  # The step named counts like metrics.jsonl, and the checkpoints stop before it.
  assert [r["step"] for r in read_metrics(tmp_path)] == list(range(1, step))
  assert committed_steps(tmp_path)[-1] == step - 1
  assert f"last good checkpoint: step {step - 1}" in err.value.args[0]


@pytest.mark.parametrize("change, message", [
    (lambda c, d: d.update(images=d["images"] * 2),
     "data['images']: expected values in [0.0, 1.0]"),
    (lambda c, d: d.update(shapes=d["shapes"][:, :9]),
     "data['shapes']: expected shape (N, 10, 3)"),
    (lambda c, d: d.update(shapes=d["shapes"][:20]),
     "expected 24 shapes paired with data['images']"),
    (lambda c, d: d.update(voxels=d["shapes"]), "data key: expected one of"),
    (lambda c, d: c.train.update(stages=("mapping", "pretrain")), "config.train.stages: expected"),
    (lambda c, d: c.train.update(batch_size=30), "batch_size: expected at most the 24 examples"),
])
def test_bad_data_and_configs_raise_clear_errors(tmp_path, change, message):
  config, data = tiny_config(stages=("mapping",), steps=2), tiny_data()
  change(config, data)
  with pytest.raises(ValueError) as err:
    train(config, tmp_path, data)
  assert message in str(err.value)


def test_fingerprint_differences_name_each_field():
  found = {"model": {"mapping": {"name": "ff", "hidden": [100]}}, "seed": 0}
  expected = {"model": {"mapping": {"name": "conv"}}, "seed": 0}
  assert fingerprint_differences(found, expected) == [
      "model.mapping.hidden: [100] in the checkpoint, None in this config",
      "model.mapping.name: 'ff' in the checkpoint, 'conv' in this config"]
  assert fingerprint_differences(expected, expected) == []


def test_resume_at_a_stage_boundary_starts_the_next_stage_afresh(tmp_path):
  """A run whose last checkpoint ends a stage resumes the next stage from its first batch."""
  import shutil
  config, data = tiny_config(stages=("shape_ae", "mapping"), steps=5), tiny_data()
  whole = train(config, tmp_path / "whole", data)["params"]
  cut = tmp_path / "cut"
  shutil.copytree(tmp_path / "whole", cut)
  shutil.rmtree(cut / "checkpoints" / "10")  # as if killed right after the stage-end save
  again = train(config, cut, data)["params"]
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(again)):
    np.testing.assert_array_equal(a, b)
  assert [r["step"] for r in read_metrics(cut)] == list(range(1, 11))
