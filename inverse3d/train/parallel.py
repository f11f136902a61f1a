"""Data-parallel training step around any loss, shared by every system.

The step is written per device: each device computes its loss and gradient on its rows of the
global batch, and ``jax.lax.pmean`` over the named axis ``AXIS`` averages them. :class:`DataParallel`
runs it with ``jax.shard_map`` over a 1-D mesh of every device (jitted, state donated); the same
code serves one device, N devices and N hosts of JAX's multi-controller runtime, where each
process feeds its own rows of the global batch. (``jax.pmap`` is not offered: it is in
maintenance mode, and shard_map computes the same step.)

A loss that is not a mean over rows (the mapping's RMSE of eq. 12 is the square root of one)
is given as ``loss_of_mean``: devices average ``loss_fn``'s value, ``loss_of_mean`` maps the
average to the loss, and the gradient follows by the chain rule, so N devices reproduce the
one-device step exactly.
"""
from __future__ import annotations

from typing import Callable

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from inverse3d.train.state import TrainState, split_params

AXIS = "batch"


def make_train_step(loss_fn: Callable, optimizer: optax.GradientTransformation, *,
                    loss_of_mean: Callable | None = None, has_aux: bool = False,
                    axis_name: str = AXIS, grad_norm: bool = True) -> Callable:
  """The per-device step ``step(state, batch) -> (state, metrics)``.

  Args:
    loss_fn: ``loss_fn(params, batch) -> scalar`` (or ``(scalar, aux)`` with ``has_aux``, aux
      a dict of scalars) on this device's rows; ``params`` holds every component, frozen ones
      included. Every device holds the same number of rows.
    optimizer: updates the components in ``state.trainable``; the others stay as they are.
    loss_of_mean: maps the device average of ``loss_fn`` to the loss that is reported and
      minimised (e.g. a square root); None for the average itself.
    has_aux: ``loss_fn`` also returns a dict of scalars, averaged over devices into metrics.
    axis_name: the mapped axis the step runs under; None for a step that averages nothing
      across devices (one sample's own model, as :meth:`DataParallel.compile_per_sample`).
    grad_norm: also return the gradient's global norm. On XLA:CPU the reduction over a
      multi-million-entry gradient is a visible share of a small model's step, so trainers
      ask for it only on the steps they log.
  Returns:
    the new state and metrics {"loss"[, "grad_norm"], **aux}, equal on every device.
  """

  def step(state: TrainState, batch):
    train, frozen = split_params(state.params, state.trainable)
    value, grads = jax.value_and_grad(lambda t: loss_fn({**frozen, **t}, batch),
                                      has_aux=has_aux)(train)
    mean, aux = value if has_aux else (value, {})
    if axis_name is not None and jax.lax.axis_size(axis_name) > 1:
      # (on one device XLA:CPU would still copy for the pmean)
      mean, aux, grads = jax.lax.pmean((mean, aux, grads), axis_name)
    loss = mean
    if loss_of_mean is not None:
      loss, chain = jax.value_and_grad(loss_of_mean)(mean)
      grads = jax.tree.map(lambda g: g * chain, grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, train)
    train = optax.apply_updates(train, updates)
    new = state.replace(step=state.step + 1, params={**state.params, **train},
                        opt_state=opt_state)
    metrics = {"loss": loss, **aux}
    if grad_norm:
      metrics["grad_norm"] = optax.global_norm(grads)
    return new, metrics

  return step


class DataParallel:
  """Runs a per-device step over ``devices`` (default: every device of every process).

  Usage::

      dp = DataParallel()
      run = dp.compile(make_train_step(loss_fn, optimizer))
      state = dp.replicate(state)
      state, metrics = run(state, dp.shard(local_rows))   # this process's rows of the batch
  """

  def __init__(self, devices=None):
    self.devices = tuple(devices if devices is not None else jax.devices())
    self.local_devices = tuple(d for d in self.devices
                               if d.process_index == jax.process_index())
    self.mesh = Mesh(np.array(self.devices), (AXIS,))

  @property
  def n_devices(self) -> int:
    return len(self.devices)

  def local_rows(self, batch_size: int) -> slice:
    """This process's rows of a global batch of ``batch_size`` (a multiple of the devices)."""
    if batch_size % self.n_devices:
      raise ValueError(f"batch_size: expected a multiple of the {self.n_devices} devices, got "
                       f"{batch_size}")
    per_device = batch_size // self.n_devices
    first = next(i for i, d in enumerate(self.devices) if d in self.local_devices)
    return slice(first * per_device, (first + len(self.local_devices)) * per_device)

  def compile(self, step: Callable) -> Callable:
    """``step`` (per device, under axis ``AXIS``) as one jitted function over the mesh."""
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                           out_specs=(P(), P()), check_vma=False)
    return jax.jit(mapped, donate_argnums=0)

  def compile_per_sample(self, fn: Callable, donate: bool = True) -> Callable:
    """``fn(shared, state, batch) -> outputs`` of one sample as one jitted function over
    (N, ...) states and batches, each device running :func:`jax.vmap` of ``fn`` on its
    N / devices samples with no communication (e.g. GAN2Shape's per-image nets). ``shared``
    (e.g. a generator) is replicated; states, batches and outputs are split on their leading
    axis; the state is donated if ``donate`` (a training step's)."""
    mapped = jax.shard_map(jax.vmap(fn, in_axes=(None, 0, 0)), mesh=self.mesh,
                           in_specs=(P(), P(AXIS), P(AXIS)), out_specs=P(AXIS),
                           check_vma=False)
    return jax.jit(mapped, donate_argnums=1 if donate else ())

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())

  def replicate(self, tree):
    """A copy of ``tree`` (the state, host or device arrays) on every device.

    Always a fresh copy (through the host: once per stage): the compiled step donates its
    state, which must not free the caller's arrays. Every process passes the same values.
    """
    def put(x):
      x = np.array(x)
      return jax.make_array_from_callback(x.shape, self.replicated, lambda index: x[index])
    return jax.tree.map(put, tree)

  def abstract(self, tree):
    """ShapeDtypeStructs of ``tree`` placed as :meth:`replicate` places it: a template for
    restoring a checkpoint without computing its values."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                       sharding=self.replicated), tree)

  def shard(self, rows):
    """This process's rows of the global batch (a pytree of (n, ...) arrays) over devices."""
    sharding = NamedSharding(self.mesh, P(AXIS))
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), rows)

  def to_host(self, tree):
    """A replicated device pytree as host NumPy arrays (one read per leaf; every process
    holds the whole value)."""
    def get(x):
      if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_shards[0].data
      return np.asarray(x)
    return jax.tree.map(get, tree)
