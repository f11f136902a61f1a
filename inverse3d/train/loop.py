"""One training loop for every model and stage: ``train(config, workdir, data)``.

``config.train`` (defaults in :func:`inverse3d.train.defaults.default_config`)::

    stages = ("image_ae", "shape_ae", "mapping", "finetune")   # any subset, in order
    steps = {"image_ae": 2000, ...}        # steps of each listed stage
    batch_size = 40                        # global batch, a multiple of the device count
    labeled_fraction = 1.0                 # share of the (image, shape) pairs whose pairing is used
    mapping_target = "code"                # mapping stage loss on codes (eq. 8) or on "shape"s
    optimizer = {...}                      # inverse3d.train.optim; a fresh one per stage
    parallel = "shard_map"                 # or "pmap"
    log_every = 100                        # steps between metrics lines
    eval_every = 0                         # steps between test evaluations (0: stage ends only)
    checkpoint_every = 500
    keep_checkpoints = 2

Global steps run through the stages in order; a checkpoint at global step g holds the state of
the stage that wrote it, so a restarted run resumes mid-stage with the same batches (the batch
order is a pure function of the step). Metrics go to ``workdir/metrics.jsonl``, one JSON object
per line; a resumed run first drops lines past its checkpoint.
"""
from __future__ import annotations

import json
import math
import os

import jax
import numpy as np

from inverse3d.checks import (check_choice, check_finite, check_positive_int, check_range,
                              check_shape)
from inverse3d.files import atomic_write
from inverse3d.models.framework import Framework, init_from_pca, init_params
from inverse3d.models.registry import build_model
from inverse3d.progress import MetricsWriter, Progress
from inverse3d.train.checkpoint import Checkpoints, config_fingerprint
from inverse3d.train.optim import build_optimizer
from inverse3d.train.parallel import DataParallel, make_train_step
from inverse3d.train.stages import (INPUTS, STAGES, TRAINABLE, BatchOrder, labeled_rows,
                                    stage_error_fn)
from inverse3d.train.state import create_state


def stage_plan(train_config) -> list[tuple[str, int, int]]:
  """``[(stage, steps, first global step)]`` from ``config.train.stages`` and ``.steps``."""
  plan, offset = [], 0
  stages = tuple(train_config.stages)
  if not stages or len(set(stages)) != len(stages):
    raise ValueError(f"config.train.stages: expected distinct names from {list(STAGES)}, got "
                     f"{stages}")
  for name in stages:
    check_choice("config.train.stages", name, STAGES)
    if name not in train_config.steps:
      raise ValueError(f"config.train.steps: expected a step count for stage {name!r}, got "
                       f"{sorted(train_config.steps)}")
    steps = check_positive_int(f"config.train.steps.{name}", train_config.steps[name])
    plan.append((name, steps, offset))
    offset += steps
  return plan


def _checked_data(data: dict, model: Framework) -> dict:
  """``data`` as float32 host arrays after shape and range checks (finiteness is per batch)."""
  per_sample = {"images": model.image_shape, "shapes": model.shape_shape}
  out = {}
  for name, array in data.items():
    kind = name.split("_")[-1]
    check_choice("data key", name, [f"{p}{k}" for p in ("", "extra_", "test_")
                                    for k in per_sample])
    array = np.asarray(array, np.float32)
    check_shape(f"data[{name!r}]", array, ("N", *per_sample[kind]))
    if kind == "images":
      check_range(f"data[{name!r}]", array, 0.0, 1.0)
    out[name] = array
  for prefix in ("", "test_"):
    a, b = out.get(prefix + "images"), out.get(prefix + "shapes")
    if a is not None and b is not None and len(a) != len(b):
      raise ValueError(f"data[{prefix + 'shapes'!r}]: expected {len(a)} shapes paired with "
                       f"data[{prefix + 'images'!r}], got {len(b)}")
  return out


def stage_data(data: dict, stage: str, labeled: np.ndarray | None) -> dict:
  """The arrays a stage trains on: all images (+ extra_images) for image_ae, all shapes
  (+ extra_shapes) for shape_ae, the ``labeled`` rows of the pairs for mapping and finetune."""
  if stage in ("image_ae", "shape_ae"):
    key = INPUTS[stage][0]
    parts = [data[k] for k in (key, "extra_" + key) if k in data]
    if not parts:
      raise ValueError(f"data: expected {key!r} or 'extra_{key}' for stage {stage}, got keys "
                       f"{sorted(data)}")
    return {key: np.concatenate(parts)}
  missing = [k for k in ("images", "shapes") if k not in data]
  if missing:
    raise ValueError(f"data: expected paired 'images' and 'shapes' for stage {stage}, missing "
                     f"{missing}")
  return {k: data[k][labeled] for k in ("images", "shapes")}


def evaluate(error_fn, params, arrays: dict, batch_size: int) -> float:
  """RMSE of ``error_fn`` (a stage's mean squared error; pass it jitted) over whole ``arrays``,
  in batches of ``batch_size``."""
  n = len(next(iter(arrays.values())))
  total = 0.0
  for start in range(0, n, batch_size):
    batch = {k: v[start:start + batch_size] for k, v in arrays.items()}
    total += float(error_fn(params, batch)) * len(next(iter(batch.values())))
  return math.sqrt(total / n)


def _drop_metrics_after(path: str, step: int) -> None:
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
  with atomic_write(path, "w") as f:
    f.writelines(lines)


def train(config, workdir, data: dict, *, pca: dict | None = None, devices=None) -> dict:
  """Trains the framework through ``config.train.stages``, resuming from ``workdir``.

  Args:
    config: ConfigDict with ``seed``, ``model`` (:mod:`inverse3d.models.registry`) and
      ``train`` (module docstring).
    workdir: checkpoints in ``workdir/checkpoints``, metrics in ``workdir/metrics.jsonl``.
    data: host arrays. "images" (N, H, W, C) float32 in [0, 1] with "shapes" (N, *shape_shape)
      paired row by row; optional unlabeled "extra_images" (M, H, W, C) and "extra_shapes"
      (M', *shape_shape) for the autoencoder stages; optional "test_images"/"test_shapes"
      evaluated (RMSE of the stage's loss) at every stage end and every ``eval_every`` steps.
    pca: optional ``{component: (mean, components)}`` set before training (hidden-less linear
      components only, see :func:`inverse3d.models.framework.init_from_pca`).
    devices: devices for data parallelism (default: all).
  Returns:
    the final params of every component (host arrays).
  Raises:
    ValueError on bad config or data (naming the field and the stage/step of a NaN batch),
    FloatingPointError when the loss stops being finite (naming the stage and step).
  """
  tc = config.train
  model = build_model(config.model)
  plan = stage_plan(tc)
  check_choice("config.train.mapping_target", tc.mapping_target, ("code", "shape"))
  data = _checked_data(data, model)
  init_key, split_key, order_key = jax.random.split(jax.random.key(config.seed), 3)
  n_pairs = len(data["images"]) if "images" in data and "shapes" in data else 0
  labeled = labeled_rows(split_key, n_pairs, tc.labeled_fraction) if n_pairs else None

  dp = DataParallel(tc.parallel, devices)
  rows = dp.local_rows(check_positive_int("config.train.batch_size", tc.batch_size))
  checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), config_fingerprint(config),
                            every=tc.checkpoint_every, keep=tc.keep_checkpoints)
  lead = jax.process_index() == 0
  metrics = MetricsWriter(workdir) if lead else None
  done = checkpoints.latest_step() or 0
  restored = None
  if done:  # resume: the params come from the checkpoint, only their shapes from the model
    stage = checkpoints.read_meta(done)["stage"]
    name, steps, _ = next(p for p in plan if p[0] == stage)
    optimizer = build_optimizer(tc.optimizer, steps)
    shapes = jax.eval_shape(
        lambda: create_state(init_params(model, init_key), optimizer, TRAINABLE[name]))
    restored = checkpoints.restore(done, dp.abstract(shapes))
    params = restored.params
    if lead:
      _drop_metrics_after(metrics.path, done)
  else:
    params = init_params(model, init_key)
    for component, (mean, components) in (pca or {}).items():
      params = init_from_pca(params, component, mean, components)

  for index, (name, steps, offset) in enumerate(plan):
    if offset + steps <= done:
      continue
    optimizer = build_optimizer(tc.optimizer, steps)
    state = (restored if restored is not None and offset < done
             else create_state(params, optimizer, TRAINABLE[name]))
    error_fn = stage_error_fn(model, name, tc.mapping_target)
    test_error = jax.jit(error_fn)
    # Two compiled steps, the same update: the logged steps also return the gradient's norm.
    run = dp.compile(make_train_step(error_fn, optimizer, grad_norm=False))
    run_logged = dp.compile(make_train_step(error_fn, optimizer))
    arrays = stage_data(data, name, labeled)
    order = BatchOrder(jax.random.fold_in(order_key, index), len(arrays[INPUTS[name][0]]),
                       tc.batch_size, what=f"examples of stage {name}")
    test = {k: data["test_" + k] for k in INPUTS[name] if "test_" + k in data}
    state = dp.replicate(state)
    progress = Progress(f"train {name}", total=offset + steps - max(done, offset),
                        unit="steps") if lead else None
    for g in range(max(done, offset), offset + steps):
      batch = {k: v[order.rows(g - offset)[rows]] for k, v in arrays.items()}
      for k, v in batch.items():
        check_finite(f"{k} of the batch at step {g} (stage {name})", v)
      end = g + 1 == offset + steps
      evaluated = (len(test) == len(INPUTS[name])
                   and (end or (tc.eval_every > 0 and (g + 1) % tc.eval_every == 0)))
      logged = end or evaluated or (g + 1) % tc.log_every == 0
      state, step_metrics = (run_logged if logged else run)(state, dp.shard(batch))
      step_metrics = jax.device_get(dp.unreplicate(step_metrics))
      loss = float(step_metrics["loss"])
      if not math.isfinite(loss):
        raise FloatingPointError(
            f"stage {name}, step {g}: expected a finite loss, got {loss} (last checkpoint: "
            f"step {checkpoints.latest_step()}); lower config.train.optimizer.learning_rate")
      if lead:
        progress.update(1, loss=loss)
      if logged:
        record = {"stage": name, "step": g + 1, "loss": loss,
                  "grad_norm": float(step_metrics["grad_norm"])}
        if evaluated:
          host_params = jax.device_get(dp.unreplicate(state).params)
          record["test_rmse"] = evaluate(test_error, host_params, test, tc.batch_size)
        if lead:
          metrics.write(**record)
      checkpoints.save(g + 1, dp.unreplicate(state), name, force=end)
    params = dp.unreplicate(state).params
  checkpoints.close()
  return jax.device_get(params)
