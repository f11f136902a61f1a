"""Checkpoints with orbax: a train state plus a JSON record of the run that wrote it.

A checkpoint at step g holds ``state`` (any pytree, via ``StandardSave``) and ``meta`` (JSON:
the caller's fields, e.g. the stage that wrote it or the input pipeline's state, and the run's
fingerprint). orbax writes each step to a temporary folder and renames it when complete, so a
run killed at any moment leaves the last complete step, and a restart on the same workdir
resumes from it. A checkpoint whose fingerprint differs from the current run's is refused with
an error naming the differing fields. Every process of a multi-process run calls every method
(orbax coordinates the writes); each restores the whole replicated state.
"""
from __future__ import annotations

import json
import os

import orbax.checkpoint as ocp

from inverse3d.checks import check_positive_int

# Config fields that never change what a run computes: how often it logs, evaluates and saves,
# where its real data lies, how many samples its figures show, the host allocator, and how a
# conv component computes (``impl``: the same function on every backend, so that a run resumes
# on another one).
NOT_IN_FINGERPRINT = ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints",
                      "data_dir", "figure_samples", "keep_freed_memory", "impl")


def config_fingerprint(config, ignore: tuple = NOT_IN_FINGERPRINT) -> dict:
  """Every leaf of ``config`` (a ConfigDict or dict) as flat JSON-normal ``{"a.b": value}``,
  except fields whose last name is in ``ignore``: what a resumed run must share with the run
  that wrote its checkpoint."""
  tree = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  flat = _flat(json.loads(json.dumps(tree, sort_keys=True, default=str)))
  return {k: v for k, v in flat.items() if k.split(".")[-1] not in ignore}


def _flat(tree, prefix: str = "") -> dict:
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out
  return {prefix: tree}


def fingerprint_differences(found: dict, expected: dict) -> list[str]:
  """Lines ``field: X in the checkpoint, Y in this config`` for every differing leaf."""
  have, want = _flat(found), _flat(expected)
  return [f"{k}: {have.get(k)!r} in the checkpoint, {want.get(k)!r} in this config"
          for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)]


class Checkpoints:
  """An orbax ``CheckpointManager`` over ``directory`` for one run.

  Args:
    directory: where step folders go (created if needed).
    fingerprint: a JSON dict of what makes the run the same run (e.g. :func:`config_fingerprint`
      of its config); stored and checked on resume.
    every: save every this many global steps (``save(..., force=True)`` saves regardless).
    keep: how many recent checkpoints to keep.
  """

  def __init__(self, directory, fingerprint: dict, every: int, keep: int = 2):
    self.directory = os.path.abspath(os.fspath(directory))
    self.fingerprint = fingerprint
    self.every = check_positive_int("checkpoint_every", every)
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=self.every,
        max_to_keep=check_positive_int("keep_checkpoints", keep),
        enable_async_checkpointing=False, cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "meta"))

  def due(self, step: int) -> bool:
    """Whether ``step`` is a multiple of the save interval."""
    return step % self.every == 0

  def latest_step(self) -> int | None:
    """The last complete step, or None for a fresh run."""
    return self.manager.latest_step()

  def read_meta(self, step: int) -> dict:
    """The JSON record of ``step``, after checking that this config may resume from it."""
    meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    meta = meta["meta"]
    differences = fingerprint_differences(meta.get("fingerprint", {}), self.fingerprint)
    if differences:
      raise ValueError(
          f"checkpoint {self.directory}/{step}: expected one written by this config, got one "
          f"from an incompatible config ({'; '.join(differences[:8])}"
          f"{'; ...' if len(differences) > 8 else ''}). Use a new workdir, or the old config "
          f"to resume.")
    return meta

  def restore(self, step: int, template):
    """The state of ``step`` in the structure, shapes and shardings of ``template``."""
    try:
      restored = self.manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template)))
    except ValueError as e:
      raise ValueError(f"checkpoint {self.directory}/{step}: expected a state matching this "
                       f"run's, got a mismatch: {e}") from e
    return restored["state"]

  def save(self, step: int, state, meta: dict | None = None, force: bool = False) -> bool:
    """Saves ``state`` and the JSON fields ``meta`` at ``step`` if due (or ``force``); True if
    saved."""
    return self.manager.save(step, force=force, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        meta=ocp.args.JsonSave({**(meta or {}), "step": step,
                                "fingerprint": self.fingerprint})))

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
