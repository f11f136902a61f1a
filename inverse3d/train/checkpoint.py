"""Checkpoints with orbax: the train state plus a JSON record of the config that wrote it.

A checkpoint at global step g holds ``state`` (a :class:`TrainState`, via ``StandardSave``) and
``meta`` (JSON: the stage that wrote it and the config fingerprint). orbax writes each step to a
temporary folder and renames it when complete, so a run killed at any moment leaves the last
complete step, and a restart on the same workdir resumes from it. A checkpoint whose fingerprint
differs from the current config is refused with an error naming the differing fields.
"""
from __future__ import annotations

import json
import os

import orbax.checkpoint as ocp

from inverse3d.checks import check_positive_int

# Config fields that make a resumed run the same run (shapes, stage plan, data order).
FINGERPRINT_FIELDS = ("seed", "model", "train.stages", "train.steps", "train.batch_size",
                      "train.labeled_fraction", "train.mapping_target", "train.optimizer.name")
# Component fields that say how a component computes, not what: left out, so that a run resumes
# on another backend (a conv component's impl) and checkpoints written before the field resume.
HOW_FIELDS = ("impl",)


def _get(config, dotted: str):
  for part in dotted.split("."):
    config = config[part]
  return config.to_dict() if hasattr(config, "to_dict") else config


def config_fingerprint(config) -> dict:
  """The JSON-normal values of ``FINGERPRINT_FIELDS`` of ``config`` (missing fields -> None)."""
  out = {}
  for field in FINGERPRINT_FIELDS:
    try:
      value = _get(config, field)
    except (KeyError, AttributeError):
      value = None
    if field == "model" and isinstance(value, dict):
      value = {k: {f: x for f, x in v.items() if f not in HOW_FIELDS} if isinstance(v, dict)
               else v for k, v in value.items()}
    out[field] = json.loads(json.dumps(value, sort_keys=True, default=str))
  return out


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
    fingerprint: :func:`config_fingerprint` of the run's config; stored and checked.
    every: save every this many global steps (``save(..., force=True)`` saves regardless).
    keep: how many recent checkpoints to keep.
  """

  def __init__(self, directory, fingerprint: dict, every: int, keep: int = 2):
    self.directory = os.path.abspath(os.fspath(directory))
    self.fingerprint = fingerprint
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=check_positive_int("checkpoint_every", every),
        max_to_keep=check_positive_int("keep_checkpoints", keep),
        enable_async_checkpointing=False, cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "meta"))

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
          f"from an incompatible config ({'; '.join(differences)}). Use a new workdir, or the "
          f"old config to resume.")
    return meta

  def restore(self, step: int, template):
    """The state of ``step`` in the structure, shapes and shardings of ``template``."""
    try:
      restored = self.manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(template)))
    except ValueError as e:
      raise ValueError(f"checkpoint {self.directory}/{step}: expected a state matching this "
                       f"config's model and stage, got a mismatch: {e}") from e
    return restored["state"]

  def save(self, step: int, state, stage: str, force: bool = False) -> bool:
    """Saves ``state`` (written by ``stage``) at ``step`` if due (or ``force``); True if saved."""
    return self.manager.save(step, force=force, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        meta=ocp.args.JsonSave({"stage": stage, "step": step,
                                "fingerprint": self.fingerprint})))

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
