"""The core's loop services on a loss that is not the mapping's (least squares): the step's
metrics are read from the device only on logged and checkpoint steps; a non-finite loss stops
the run naming its step, before it can be saved; a resumed run continues its log."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from inverse3d.train import DataParallel, TrainLoop, create_state, make_train_step
from inverse3d.train.input import ArraySource, Batches

RNG = np.random.default_rng(0)
X = RNG.standard_normal((32, 5)).astype(np.float32)
Y = (X @ RNG.standard_normal(5)).astype(np.float32)


def loss_fn(params, batch):
  residual = batch["x"] @ params["w"] - batch["y"]
  return jnp.mean(residual ** 2), {"max_abs": jnp.max(jnp.abs(residual))}


def run_loop(workdir, steps, *, log_every=5, checkpoint_every=10, y=Y, on_step=None):
  dp = DataParallel()
  optimizer = optax.sgd(0.05)
  loop = TrainLoop(workdir, {"lr": 0.05}, total_steps=steps, log_every=log_every,
                   checkpoint_every=checkpoint_every, name="lsq")
  template = create_state({"w": np.zeros(5, np.float32)}, optimizer, ("w",))
  state = (loop.restore(dp.abstract(template)) if loop.done else dp.replicate(template))
  batches = Batches(ArraySource({"x": X, "y": y}), jax.random.key(0), 8,
                    start_step=loop.done)
  step_fn = dp.compile(make_train_step(loss_fn, optimizer, has_aux=True, grad_norm=False))
  for step in range(loop.done + 1, steps + 1):
    batch = dp.shard(next(batches))
    if on_step:
      on_step(step, "before")
    state, metrics = step_fn(state, batch)
    loop.end_step(step, state, metrics, meta=lambda: {"input": batches.get_state()})
    if on_step:
      on_step(step, "after")
  loop.close()
  return state


def read_lines(workdir):
  with open(workdir / "metrics.jsonl") as f:
    return [json.loads(line) for line in f]


def test_metrics_are_read_only_on_logged_and_checkpoint_steps(tmp_path, count_host_reads):
  reads = {}

  def on_step(step, when):
    if when == "before":
      count_host_reads.reset()
    else:
      reads[step] = count_host_reads.count

  run_loop(tmp_path, 20, log_every=5, checkpoint_every=10, on_step=on_step)
  quiet = [s for s in reads if s % 5]
  assert quiet and all(reads[s] == 0 for s in quiet), {s: reads[s] for s in quiet}
  assert all(reads[s] > 0 for s in (5, 10, 15, 20)), reads
  lines = read_lines(tmp_path)
  assert [r["step"] for r in lines] == [5, 10, 15, 20]
  assert set(lines[0]) == {"step", "loss", "max_abs"} and lines[-1]["loss"] < lines[0]["loss"]


def test_non_finite_loss_stops_naming_its_step_before_saving(tmp_path):
  y = Y.copy()
  y[3] = np.inf  # the first batch holding example 3 makes the loss inf
  with pytest.raises(FloatingPointError, match=r"lsq, step (\d+): expected a finite loss") as e:
    run_loop(tmp_path, 40, log_every=100, checkpoint_every=2, y=y)
  bad = int(e.value.args[0].split("step ")[1].split(":")[0])
  order = Batches(ArraySource({"i": np.arange(32)}), jax.random.key(0), 8)
  first = next(s for s in range(1, 41) if 3 in next(order)["i"])
  assert bad == first
  saved = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  assert saved and saved[-1] < bad and f"last good checkpoint: step {saved[-1]}" in str(e.value)


def test_resumed_run_ends_like_one_run(tmp_path):
  whole = run_loop(tmp_path / "whole", 20)
  run_loop(tmp_path / "parts", 10)
  parts = run_loop(tmp_path / "parts", 20)
  np.testing.assert_array_equal(np.asarray(parts.params["w"]), np.asarray(whole.params["w"]))
  assert read_lines(tmp_path / "parts") == read_lines(tmp_path / "whole")
  loop = TrainLoop(tmp_path / "parts", {"lr": 0.05}, total_steps=20, log_every=5,
                   checkpoint_every=10)
  assert loop.complete and loop.done == 20
  loop.close()
  with pytest.raises(ValueError, match=r"lr: 0.05 in the checkpoint, 0.1 in this config"):
    TrainLoop(tmp_path / "parts", {"lr": 0.1}, total_steps=20, log_every=5, checkpoint_every=10)
