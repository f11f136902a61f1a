"""optax optimisers and learning-rate schedules from ``config.train.optimizer``.

Fields (defaults from :func:`inverse3d.mapping.defaults.default_config`)::

    name = "adam"                 # adam | adamw | sgd | rmsprop
    learning_rate = 1e-3
    schedule = "piecewise"        # constant | piecewise | cosine
    boundaries = (0.5,)           # piecewise: fractions of the stage's steps ...
    scales = (0.01,)              # ... where the rate is multiplied by these (1e-3 -> 1e-5)
    momentum = 0.9                # sgd (0 for plain SGD)
    weight_decay = 1e-4           # adamw
    clip_norm = 0.0               # > 0 clips the global gradient norm first

The paper trains with 1e-3 for half the epochs, then 1e-5 (section 5.2).
"""
from __future__ import annotations

import optax

from inverse3d.checks import check_choice, check_positive_int

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "piecewise", "cosine")


def build_schedule(opt_config, total_steps: int, path: str = "config.train.optimizer"):
  """The learning rate as a function of the step within a stage of ``total_steps`` steps."""
  total_steps = check_positive_int("total_steps", total_steps)
  check_choice(f"{path}.schedule", opt_config.schedule, SCHEDULES)
  rate = float(opt_config.learning_rate)
  if not rate > 0:
    raise ValueError(f"{path}.learning_rate: expected a positive number, got {rate!r}")
  if opt_config.schedule == "constant":
    return optax.constant_schedule(rate)
  if opt_config.schedule == "cosine":
    return optax.cosine_decay_schedule(rate, total_steps)
  boundaries, scales = tuple(opt_config.boundaries), tuple(opt_config.scales)
  if (len(boundaries) != len(scales) or any(not 0 < b < 1 for b in boundaries)
      or list(boundaries) != sorted(boundaries)):
    raise ValueError(f"{path}: expected increasing boundaries in (0, 1) and as many scales, got "
                     f"boundaries {boundaries} and scales {scales}")
  return optax.piecewise_constant_schedule(
      rate, {int(round(b * total_steps)): float(s) for b, s in zip(boundaries, scales)})


def build_optimizer(opt_config, total_steps: int,
                    path: str = "config.train.optimizer") -> optax.GradientTransformation:
  """The optax transformation named by ``opt_config.name`` with its schedule (module docstring)."""
  check_choice(f"{path}.name", opt_config.name, OPTIMIZERS)
  schedule = build_schedule(opt_config, total_steps, path)
  if opt_config.name == "adam":
    opt = optax.adam(schedule)
  elif opt_config.name == "adamw":
    opt = optax.adamw(schedule, weight_decay=float(opt_config.weight_decay))
  elif opt_config.name == "rmsprop":
    opt = optax.rmsprop(schedule)
  else:
    opt = optax.sgd(schedule, momentum=float(opt_config.momentum) or None)
  if opt_config.clip_norm and opt_config.clip_norm > 0:
    opt = optax.chain(optax.clip_by_global_norm(float(opt_config.clip_norm)), opt)
  return opt
