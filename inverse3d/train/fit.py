"""Fitting one network to labelled arrays on the core's data-parallel step: ``fit_net``."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from inverse3d.train.input import GlobalOrder
from inverse3d.train.parallel import DataParallel, make_train_step
from inverse3d.train.state import create_state


def fit_net(net, loss_fn, arrays: dict, steps: int, batch_size: int, key, lr: float, *,
            has_aux: bool = False, devices=None, name: str = "fit_net"):
  """Adam on ``loss_fn(params {"net": ...}, batch)`` over batches of ``arrays`` (each (N, ...),
  float32; "images" feeds the init) in epoch order; the trained params (host arrays).

  Raises FloatingPointError naming ``name`` if the final loss is not finite."""
  n = len(arrays["images"])
  k_init, k_order = jax.random.split(key)
  params = jax.jit(net.init)(k_init, jnp.asarray(arrays["images"][:1]))["params"]
  dp = DataParallel(devices)
  rows = dp.local_rows(batch_size)
  opt = optax.adam(lr)
  state = dp.replicate(create_state({"net": params}, opt, ("net",)))
  run = dp.compile(make_train_step(loss_fn, opt, has_aux=has_aux, grad_norm=False))
  order = GlobalOrder(k_order, n, batch_size, what="images")
  metrics = {}
  for step in range(steps):
    index = order.rows(step)[rows]
    state, metrics = run(state, dp.shard({k: v[index] for k, v in arrays.items()}))
  loss = float(dp.to_host(metrics["loss"]))
  if not math.isfinite(loss):
    raise FloatingPointError(f"{name}: the loss is {loss} after {steps} steps")
  return dp.to_host(state.params["net"])
