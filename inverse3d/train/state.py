"""Train state: a pytree of the step count, every component's params and the optimiser state."""
from __future__ import annotations

from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar, steps done in the current stage. params: every component's params.
  opt_state: optimiser state of the ``trainable`` components only (the others stay frozen).
  trainable: names of the components this stage trains (static, not a pytree leaf)."""
  step: jax.Array
  params: dict
  opt_state: Any
  trainable: tuple = flax.struct.field(pytree_node=False, default=())


def split_params(params: dict, trainable: Sequence[str]) -> tuple[dict, dict]:
  """(trainable components, frozen components) of a params dict keyed by component name."""
  missing = [name for name in trainable if name not in params]
  if missing:
    raise ValueError(f"trainable: expected components among {sorted(params)}, got {missing}")
  return ({k: v for k, v in params.items() if k in trainable},
          {k: v for k, v in params.items() if k not in trainable})


def create_state(params: dict, optimizer: optax.GradientTransformation,
                 trainable: Sequence[str]) -> TrainState:
  """A fresh stage: step 0 and ``optimizer`` initialised on the trainable components."""
  train, _ = split_params(params, trainable)
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=optimizer.init(train), trainable=tuple(trainable))
