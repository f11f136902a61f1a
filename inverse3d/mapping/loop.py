"""The mapping system's training loop: ``train(config, workdir, data)`` through its stages.

``config.train`` (defaults in :func:`inverse3d.mapping.defaults.default_config`)::

    stages = ("image_ae", "shape_ae", "mapping", "finetune")   # any subset, in order
    steps = {"image_ae": 2000, ...}        # steps of each listed stage
    batch_size = 40                        # global batch, a multiple of the device count
    labeled_fraction = 1.0                 # share of the (image, shape) pairs whose pairing is used
    mapping_target = "code"                # mapping stage loss on codes (eq. 8) or on "shape"s
    optimizer = {...}                      # inverse3d.train.optim; a fresh one per stage
    log_every = 100                        # steps between metrics lines
    eval_every = 0                         # steps between test evaluations (0: stage ends only)
    checkpoint_every = 500
    keep_checkpoints = 2

Global steps run through the stages in order, on the core's data-parallel step and loop
services (:mod:`inverse3d.train`); a checkpoint at global step g holds the state of the stage
that wrote it, so a restarted run resumes mid-stage with the same batches (the batch order is a
pure function of the step), and a rerun of a finished run only restores its result. Metrics go
to ``workdir/metrics.jsonl``, one JSON object per logged step.
"""
from __future__ import annotations

import math

import jax
import numpy as np

from inverse3d.checks import (check_choice, check_finite, check_positive_int, check_range,
                              check_shape)
from inverse3d.mapping.framework import Framework, init_from_pca, init_params
from inverse3d.mapping.registry import build_model
from inverse3d.mapping.stages import (INPUTS, STAGES, TRAINABLE, labeled_rows, stage_error_fn,
                                      stage_step)
from inverse3d.train import (DataParallel, TrainLoop, build_optimizer, config_fingerprint,
                             create_state)
from inverse3d.train.input import ArraySource, Batches


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
  """``data`` as float32 host arrays after shape, range and finiteness checks (before any
  training, test data included)."""
  per_sample = {"images": model.image_shape, "shapes": model.shape_shape}
  out = {}
  for name, array in data.items():
    kind = name.split("_")[-1]
    check_choice("data key", name, [f"{p}{k}" for p in ("", "extra_", "test_")
                                    for k in per_sample])
    array = np.asarray(array, np.float32)
    check_shape(f"data[{name!r}]", array, ("N", *per_sample[kind]))
    check_finite(f"data[{name!r}]", array)
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


def train(config, workdir, data: dict, *, pca: dict | None = None, devices=None) -> dict:
  """Trains the framework through ``config.train.stages``, resuming from ``workdir``.

  Args:
    config: ConfigDict with ``seed``, ``model`` (:mod:`inverse3d.mapping.registry`) and
      ``train`` (module docstring); every other field that changes the run (e.g. ``data``) is
      part of the checkpoints' fingerprint too.
    workdir: checkpoints in ``workdir/checkpoints``, metrics in ``workdir/metrics.jsonl``.
    data: host arrays. "images" (N, H, W, C) float32 in [0, 1] with "shapes" (N, *shape_shape)
      paired row by row; optional unlabeled "extra_images" (M, H, W, C) and "extra_shapes"
      (M', *shape_shape) for the autoencoder stages; optional "test_images"/"test_shapes"
      evaluated (RMSE of the stage's loss) at every stage end and every ``eval_every`` steps.
    pca: optional ``{component: (mean, components)}`` set before training (hidden-less linear
      components only, see :func:`inverse3d.mapping.framework.init_from_pca`).
    devices: devices for data parallelism (default: every device of every process).
  Returns:
    {"params": the final params of every component (host arrays), "labeled_rows": the sorted
    pair rows whose labels were used (N_labeled,), "train_seconds": over every resumed run}.
  Raises:
    ValueError on bad config or data (naming the field, or the array holding NaN),
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

  dp = DataParallel(devices)
  rows = dp.local_rows(check_positive_int("config.train.batch_size", tc.batch_size))
  loop = TrainLoop(workdir, config_fingerprint(config), total_steps=plan[-1][2] + plan[-1][1],
                   log_every=tc.log_every, checkpoint_every=tc.checkpoint_every,
                   keep_checkpoints=tc.keep_checkpoints)
  done = loop.done
  if done:  # resume: the params come from the checkpoint, only their shapes from the model
    name, steps, _ = next(p for p in plan if p[0] == loop.meta["stage"])
    optimizer = build_optimizer(tc.optimizer, steps)
    shapes = jax.eval_shape(
        lambda: create_state(init_params(model, init_key), optimizer, TRAINABLE[name]))
    restored = loop.restore(dp.abstract(shapes))
    params = restored.params
  else:
    restored = None
    params = init_params(model, init_key)
    for component, (mean, components) in (pca or {}).items():
      params = init_from_pca(params, component, mean, components)

  for index, (name, steps, offset) in enumerate(plan):
    if offset + steps <= done:
      continue
    optimizer = build_optimizer(tc.optimizer, steps)
    if restored is not None and offset < done:
      state, restored = restored, None
    else:
      state, restored = create_state(params, optimizer, TRAINABLE[name]), None
    test_error = jax.jit(stage_error_fn(model, name, tc.mapping_target))
    # Two compiled steps, the same update: the logged steps also return the gradient's norm.
    run = dp.compile(stage_step(model, name, optimizer, tc.mapping_target, grad_norm=False))
    run_logged = dp.compile(stage_step(model, name, optimizer, tc.mapping_target))
    first = max(done, offset)  # global steps done before this stage's first one here
    batches = Batches(ArraySource(stage_data(data, name, labeled)),
                      jax.random.fold_in(order_key, index), tc.batch_size, rows,
                      start_step=first - offset, what=f"examples of stage {name}")
    if loop.meta.get("stage") == name:  # resumed mid-stage: the saved input position
      batches.resume(loop.meta["input"])
    test = {k: data["test_" + k] for k in INPUTS[name] if "test_" + k in data}
    state = dp.replicate(state)
    for step in range(first + 1, offset + steps + 1):
      batch = next(batches)
      end = step == offset + steps
      evaluated = (len(test) == len(INPUTS[name])
                   and (end or (tc.eval_every > 0 and step % tc.eval_every == 0)))
      logged = end or evaluated or loop.logged(step)
      state, step_metrics = (run_logged if logged else run)(state, dp.shard(batch))
      loop.end_step(step, state, step_metrics, record={"stage": name},
                    meta=lambda: {"stage": name, "input": batches.get_state()},
                    log=logged, save=end, evaluate=(lambda: {"test_rmse": evaluate(
                        test_error, dp.to_host(state.params), test, tc.batch_size)})
                    if evaluated else None)
    params = state.params
  loop.close()
  return {"params": dp.to_host(params), "labeled_rows": labeled,
          "train_seconds": loop.train_seconds}
