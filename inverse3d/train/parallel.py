"""Data-parallel training step, shared by every model and stage.

The step is written per device: each device computes the gradient of its part of the batch and
``jax.lax.pmean`` over the named axis ``AXIS`` averages losses and gradients. :class:`DataParallel`
runs it with ``jax.shard_map`` over a 1-D device mesh (jitted) or with ``jax.pmap``; the same code
serves 1 device, N devices and N hosts (each host feeds its own rows of the global batch).

The loss is the RMSE of eq. 12, taken over the whole global batch: devices average their mean
squared errors, and the gradient of sqrt follows by the chain rule, so N devices reproduce the
1-device step exactly (not an average of per-device RMSEs).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

from inverse3d.checks import check_choice
from inverse3d.train.state import TrainState, split_params

AXIS = "batch"
MODES = ("shard_map", "pmap")


def make_train_step(error_fn: Callable, optimizer: optax.GradientTransformation,
                    axis_name: str = AXIS, grad_norm: bool = True) -> Callable:
  """The per-device step ``step(state, batch) -> (state, {"loss"[, "grad_norm"]})``.

  Args:
    error_fn: ``error_fn(params, batch) -> scalar`` mean squared error over this device's rows
      (every device holds the same number of rows); ``params`` has every component.
    optimizer: updates the components in ``state.trainable``; the rest stay as they are.
    axis_name: the mapped axis the step runs under (shard_map or pmap).
    grad_norm: also return the gradient's global norm. It costs the conv voxel model's step on
      CPU about a fifth of its time (XLA runs the reduction over the 6.5M-entry gradient
      beside the update), so the training loop asks for it only on the steps it logs.
  Returns:
    the new state and metrics: ``loss`` = sqrt(mean squared error over the global batch) and
    ``grad_norm`` = global norm of the loss gradient.
  """

  def step(state: TrainState, batch):
    train, frozen = split_params(state.params, state.trainable)
    mse, grads = jax.value_and_grad(lambda t: error_fn({**frozen, **t}, batch))(train)
    if jax.lax.axis_size(axis_name) > 1:  # on one device XLA:CPU still runs (copies) it
      mse, grads = jax.lax.pmean((mse, grads), axis_name)
    loss = jnp.sqrt(mse)
    chain = jnp.where(mse > 0, 0.5 / jnp.where(mse > 0, loss, 1.0), 0.0)  # d sqrt(m) / dm
    grads = jax.tree.map(lambda g: g * chain, grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, train)
    train = optax.apply_updates(train, updates)
    new = state.replace(step=state.step + 1, params={**state.params, **train},
                        opt_state=opt_state)
    metrics = {"loss": loss}
    if grad_norm:
      metrics["grad_norm"] = optax.global_norm(grads)
    return new, metrics

  return step


class DataParallel:
  """Runs a per-device step on ``devices`` with ``mode`` "shard_map" (default) or "pmap".

  Usage::

      dp = DataParallel("shard_map")
      run = dp.compile(make_train_step(error_fn, optimizer))
      state = dp.replicate(state)
      state, metrics = run(state, dp.shard(local_rows))   # local_rows: this host's rows
      host_state = dp.unreplicate(state)
  """

  def __init__(self, mode: str = "shard_map", devices=None):
    check_choice("mode", mode, MODES)
    self.mode = mode
    self.devices = tuple(devices if devices is not None else jax.devices())
    self.local_devices = tuple(d for d in self.devices
                               if d.process_index == jax.process_index())
    if mode == "shard_map":
      self.mesh = Mesh(np.array(self.devices), (AXIS,))

  @property
  def n_devices(self) -> int:
    return len(self.devices)

  def local_rows(self, batch_size: int) -> slice:
    """This host's rows of a global batch of ``batch_size`` (a multiple of the device count)."""
    if batch_size % self.n_devices:
      raise ValueError(f"batch_size: expected a multiple of the {self.n_devices} devices, got "
                       f"{batch_size}")
    per_device = batch_size // self.n_devices
    first = next(i for i, d in enumerate(self.devices) if d in self.local_devices)
    return slice(first * per_device, (first + len(self.local_devices)) * per_device)

  def compile(self, step: Callable) -> Callable:
    """``step`` (per device, under axis ``AXIS``) as a jitted all-device function."""
    if self.mode == "pmap":
      return jax.pmap(step, axis_name=AXIS, devices=self.devices, donate_argnums=0)
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                           out_specs=(P(), P()), check_vma=False)
    return jax.jit(mapped, donate_argnums=0)

  def replicate(self, tree):
    """A copy of ``tree`` (the state) on every device, in the layout ``compile`` expects.

    Always a copy: the compiled step donates its state, which must not free the caller's arrays.
    """
    if self.mode == "pmap":
      n = len(self.local_devices)
      return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (n, *np.shape(x))), tree)
    copied = jax.tree.map(jnp.array, tree)  # device_put alone may alias a device's buffer
    return jax.device_put(copied, NamedSharding(self.mesh, P()))

  def abstract(self, tree):
    """ShapeDtypeStructs of ``tree`` (arrays or shapes) placed as :meth:`unreplicate` returns
    them: a template for restoring a checkpoint without computing its values."""
    sharding = (SingleDeviceSharding(self.local_devices[0]) if self.mode == "pmap"
                else NamedSharding(self.mesh, P()))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                        tree)

  def unreplicate(self, tree):
    """The inverse of :meth:`replicate`: one copy of a replicated pytree."""
    if self.mode == "pmap":
      return jax.tree.map(lambda x: x[0], tree)
    return tree

  def shard(self, rows):
    """This host's rows of the global batch (a pytree of (n, ...) arrays) split over devices."""
    if self.mode == "pmap":
      n = len(self.local_devices)
      return jax.tree.map(lambda x: np.reshape(x, (n, x.shape[0] // n, *x.shape[1:])), rows)
    sharding = NamedSharding(self.mesh, P(AXIS))
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), rows)
