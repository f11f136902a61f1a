"""Joining a multi-process cluster with JAX's own multi-controller runtime.

Every process runs the same program on its own devices; ``jax.devices()`` then lists every
device of every process, :class:`inverse3d.train.DataParallel` builds its mesh over them, each
process feeds its own rows of a global batch, and only the lead process (index 0) writes
metrics, figures and results, while every process takes part in checkpoints.
"""
from __future__ import annotations

import jax
from absl import logging


def join_cluster(coordinator_address: str = "", num_processes: int | None = None,
                 process_id: int | None = None, auto: bool = False) -> bool:
  """Calls ``jax.distributed.initialize`` when asked; returns whether a cluster was joined.

  Args:
    coordinator_address: "host:port" of process 0's coordinator; with ``num_processes`` and
      ``process_id``, the explicit form (e.g. two hosts, or two processes on one machine).
    auto: join with JAX's own detection of the cluster (Slurm, Open MPI, Cloud TPU, ...).
  Must run before any JAX computation. On CPU the collectives go through gloo.
  """
  explicit = (coordinator_address, num_processes, process_id)
  if not auto and all(v in ("", None) for v in explicit):
    return False
  if not auto and any(v in ("", None) for v in explicit):
    raise ValueError(f"coordinator_address, num_processes, process_id: expected all three (or "
                     f"none, or auto), got {coordinator_address!r}, {num_processes!r}, "
                     f"{process_id!r}")
  if not auto and not 0 <= process_id < num_processes:
    raise ValueError(f"process_id: expected an integer in [0, {num_processes}), got "
                     f"{process_id!r}")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if auto:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
  logging.info("joined a cluster: process %d of %d, %d local of %d devices",
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
  return True


def is_lead() -> bool:
  """Whether this process writes a job's metrics, figures and results (process 0)."""
  return jax.process_index() == 0
