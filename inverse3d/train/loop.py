"""The services every training loop needs: resume, checkpoints, metrics, progress, divergence.

A trainer counts global steps 1..total_steps and calls :meth:`TrainLoop.end_step` after each::

    loop = TrainLoop(workdir, config_fingerprint(config), total_steps=1000, log_every=100,
                     checkpoint_every=500)
    state = loop.restore(template) if loop.done else fresh_state
    for step in range(loop.done + 1, loop.total_steps + 1):
      state, metrics = run(state, batch)
      loop.end_step(step, state, metrics, meta={"input": batches.get_state()})
    loop.close()

What it does:
- resume: ``done`` is the last checkpoint's step (0 for a fresh run); lines of
  ``workdir/metrics.jsonl`` past it are dropped; :attr:`complete` says a rerun has nothing left.
- host reads: the step's metrics stay on the device except on the steps it logs; on every step
  a jitted update of a device scalar records the first step whose loss is not finite, read on
  logged and checkpoint steps only, so a diverged run stops there naming that step, before
  its state can be saved, and the last good checkpoint stays the latest.
- metrics: one JSON object per logged step (only process 0 writes), progress with rate and ETA.
- ``train_seconds`` accumulates over resumed runs (stored in each checkpoint's meta).
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from inverse3d.checks import check_positive_int
from inverse3d.files import atomic_write
from inverse3d.progress import MetricsWriter, Progress
from inverse3d.train.checkpoint import Checkpoints


@jax.jit
def _first_bad(first, loss, step):
  """The first step with a non-finite loss so far (-1 while none)."""
  return jnp.where((first < 0) & ~jnp.isfinite(loss), step, first)


class TrainLoop:
  """Resume, checkpoints, metrics and divergence checks of one run over ``total_steps`` steps.

  Args:
    workdir: checkpoints go to ``workdir/checkpoints``, metrics to ``workdir/metrics.jsonl``.
    fingerprint: JSON dict a resumed run must match (see ``checkpoint.config_fingerprint``).
    total_steps: global steps of the whole run. log_every: steps between metrics lines (the
      last step is always logged). checkpoint_every: steps between checkpoints (and the last).
    name: shown in progress lines and errors.
  """

  def __init__(self, workdir, fingerprint: dict, *, total_steps: int, log_every: int,
               checkpoint_every: int, keep_checkpoints: int = 2, name: str = "train"):
    self.total_steps = check_positive_int("total_steps", total_steps)
    self.log_every = check_positive_int("log_every", log_every)
    self.name = name
    self.lead = jax.process_index() == 0
    self.checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), fingerprint,
                                   every=checkpoint_every, keep=keep_checkpoints)
    self.metrics = MetricsWriter(workdir) if self.lead else None
    self.done = self.checkpoints.latest_step() or 0
    self.meta = self.checkpoints.read_meta(self.done) if self.done else {}
    self._seconds_before = float(self.meta.get("train_seconds", 0.0))
    self._start = time.perf_counter()
    self._ran = False
    self._final_seconds = self._seconds_before if self.complete else None
    if self.complete:
      logging.info("%s: complete at step %d of %d in %s; nothing left to train", name, self.done,
                   self.total_steps, workdir)
    self._bad = jnp.asarray(-1, jnp.int32)
    self._last = {}
    self._progress = None
    if self.done and self.lead:
      self._drop_metrics_after(self.done)

  @property
  def complete(self) -> bool:
    """Every step is done (a rerun of a finished workdir)."""
    return self.done >= self.total_steps

  @property
  def train_seconds(self) -> float:
    """Seconds spent training, over this run and the runs it resumed."""
    if self._final_seconds is not None:
      return self._final_seconds
    return self._seconds_before + (time.perf_counter() - self._start if self._ran else 0.0)

  def restore(self, template):
    """The last checkpoint's state, in the structure and shardings of ``template``."""
    return self.checkpoints.restore(self.done, template)

  def logged(self, step: int) -> bool:
    """Whether global ``step`` (1-based) writes a metrics line."""
    return step % self.log_every == 0 or step == self.total_steps

  def end_step(self, step: int, state, metrics: dict, *, meta: dict | None = None,
               record: dict | None = None, evaluate=None, log: bool = False,
               save: bool = False) -> dict | None:
    """Books global ``step`` (1-based) after its update.

    Args:
      state: the state after the step (saved on checkpoint steps). metrics: the step's device
        scalars; read only when the step is logged.
      meta: JSON fields saved with a checkpoint (e.g. the stage, the input iterator's state),
        or a function returning them, called only when the step saves.
      record: extra JSON fields of this step's metrics line (e.g. the stage).
      evaluate: called on logged steps, returns more fields (e.g. test scores).
      log, save: force a metrics line / a checkpoint at this step.
    Returns:
      the metrics line on logged steps (host floats), else None.
    Raises:
      FloatingPointError naming the first step whose loss was not finite.
    """
    self._ran = True
    self._bad = _first_bad(self._bad, metrics["loss"], step)
    logged = log or self.logged(step)
    saving = save or step == self.total_steps or self.checkpoints.due(step)
    if logged or saving:
      self._raise_if_diverged(record)
    line = None
    if logged:
      host = jax.device_get(metrics)
      line = {**(record or {}), "step": step,
              **{k: float(np.asarray(v)) for k, v in host.items()}}
      if evaluate is not None:
        line.update(evaluate())
      self._last = {"loss": line["loss"]}
      if self.lead:
        self.metrics.write(**line)
    if self.lead:
      if self._progress is None:
        self._progress = Progress(self.name, total=self.total_steps - step + 1, unit="steps")
      self._progress.update(1, **self._last)
    if saving:
      seconds = self.train_seconds
      if step == self.total_steps:
        self._final_seconds = seconds
      meta = meta() if callable(meta) else meta
      self.checkpoints.save(step, state, {**(meta or {}), "train_seconds": seconds}, force=True)
    return line

  def close(self) -> None:
    if self._progress is not None:
      self._progress.close()
    self.checkpoints.close()

  def _raise_if_diverged(self, record: dict | None) -> None:
    bad = int(jax.device_get(self._bad))
    if bad >= 0:
      where = "".join(f", {k} {v}" for k, v in (record or {}).items())
      raise FloatingPointError(
          f"{self.name}, step {bad}{where}: expected a finite loss, got a non-finite one (last "
          f"good checkpoint: step {self.checkpoints.latest_step()}); lower the learning rate")

  def _drop_metrics_after(self, step: int) -> None:
    path = self.metrics.path
    if not os.path.exists(path):
      return
    with open(path) as f:
      lines = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_write(path, "w") as f:
      f.writelines(lines)
