"""The training loop with orbax checkpoints: a run killed with SIGKILL and restarted ends with
the same parameters as an uninterrupted run; incompatible checkpoints, NaN batches and a
diverging loss stop with clear errors; all four stages train and log."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from inverse3d.train import default_config, train
from inverse3d.train.checkpoint import fingerprint_differences

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(stages=("shape_ae", "mapping"), steps=20):
  """FF components on 8x8 images and 10-point clouds, codes 6 and 5, batch 8."""
  config = default_config("faces", shape_shape=(10, 3), image_shape=(8, 8, 1),
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
from inverse3d.train import train
params = train(tiny_config(steps=60), sys.argv[1], tiny_data())
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
  params = train(config, tmp_path, data)
  records = read_metrics(tmp_path)
  assert [r["step"] for r in records] == list(range(1, 61))
  for i, stage in enumerate(config.train.stages):
    mine = records[15 * i:15 * (i + 1)]
    assert {r["stage"] for r in mine} == {stage}
    assert mine[-1]["loss"] < mine[0]["loss"], stage
    assert "test_rmse" in mine[-1] and 0 < mine[-1]["test_rmse"] < 1
  assert set(params) == {"image_encoder", "image_decoder", "mapping", "shape_encoder",
                         "shape_decoder"}
  # Finished: a second call restores the last checkpoint and returns the same params.
  again = train(config, tmp_path, data)
  np.testing.assert_array_equal(again["mapping"]["out"]["kernel"],
                                params["mapping"]["out"]["kernel"])


def test_pmap_runner_trains_and_restores_like_shard_map(tmp_path):
  results = {}
  for mode in ("shard_map", "pmap"):
    config = tiny_config(stages=("mapping",), steps=6)
    config.train.parallel = mode
    results[mode] = train(config, tmp_path / mode, tiny_data())
    restored = train(config, tmp_path / mode, tiny_data())  # finished: restores step 6
    np.testing.assert_array_equal(restored["mapping"]["out"]["kernel"],
                                  results[mode]["mapping"]["out"]["kernel"])
  np.testing.assert_allclose(results["pmap"]["mapping"]["out"]["kernel"],
                             results["shard_map"]["mapping"]["out"]["kernel"], atol=1e-6)


def test_incompatible_checkpoint_is_refused(tmp_path):
  train(tiny_config(stages=("mapping",), steps=5), tmp_path, tiny_data())
  other = tiny_config(stages=("mapping",), steps=5)
  other.model.mapping = {"name": "linear"}
  with pytest.raises(ValueError) as err:
    train(other, tmp_path, tiny_data())
  message = str(err.value)
  assert "expected one written by this config, got one from an incompatible config" in message
  assert "model.mapping.name: 'ff' in the checkpoint, 'linear' in this config" in message


def test_nan_in_a_batch_stops_naming_the_step(tmp_path):
  data = tiny_data(16)
  data["shapes"][11, 3, 1] = np.nan
  config = tiny_config(stages=("shape_ae",), steps=10)
  with pytest.raises(ValueError) as err:
    train(config, tmp_path, data)
  message = str(err.value)
  assert "expected finite values, got 1 NaN or inf entries" in message
  assert message.startswith("shapes of the batch at step ")
  step = int(message.split("at step ")[1].split()[0])
  assert step < 2  # row 11 is in one of the two batches of the first epoch
  # Every step before it trained and was logged; nothing after it.
  assert [r["step"] for r in read_metrics(tmp_path)] == list(range(1, step + 1))


def test_diverging_loss_stops_naming_the_step(tmp_path):
  config = tiny_config(stages=("shape_ae",), steps=10)
  config.train.optimizer.update({"name": "sgd", "momentum": 0.0, "schedule": "constant",
                                 "learning_rate": 1e30})
  with pytest.raises(FloatingPointError, match=r"stage shape_ae, step \d: expected a finite "
                                               r"loss, got (nan|inf)"):
    train(config, tmp_path, tiny_data())


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
