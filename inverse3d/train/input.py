"""The training loader: this process's rows of each global batch, read through grain.

The order (:class:`GlobalOrder`): epochs of
``n // batch_size`` global batches (the last partial batch is dropped), the examples of epoch e
permuted by ``jax.random.permutation(jax.random.fold_in(key, e), n)``, global step g reading
``perm[i * batch_size:(i + 1) * batch_size]`` with ``e, i = divmod(g, n // batch_size)``. Each
process reads only its ``rows`` (a slice of the global batch, as
:meth:`inverse3d.train.parallel.DataParallel.local_rows` returns), so P processes together read
exactly the batches one process reads.

Sources (:mod:`inverse3d.train.sources`, :class:`ArraySource` and :func:`tfds_source`
re-exported here) are random-access: ``len(source)`` and ``source[i] -> {name: array}``.
:class:`Batches` runs a ``grain.python.DataLoader`` over one with one grain record per step
(:class:`StepSampler`, :class:`StepReader`): the source reads the step's rows at once (fancy
indexing for arrays, ``__getitems__`` for TFDS), so grain's per-record cost is paid once per
batch (benchmarks/input_pipeline.py). Reader threads default to none for in-memory arrays and
2 otherwise (:data:`MEMORY_READ`, :data:`SOURCE_READ`). A TFDS source that fits in memory reads
fastest decoded once, ``ArraySource.from_source(tfds_source(...))``.

Usage (resume from a saved state, or from a step number)::

    batches = Batches(ArraySource(arrays), key, 40, dp.local_rows(40), start_step=step)
    batch = next(batches)              # {"images": (rows, 32, 32, 1), ...}, step ``step``
    saved = batches.get_state()        # JSON-able; Batches(...).set_state(saved) resumes
"""
from __future__ import annotations

import json
import sys
import threading
from typing import Mapping, Sequence

import grain.python as grain
import jax
import numpy as np
from absl import flags

from inverse3d.checks import check_positive_int
from inverse3d.train.sources import (ArraySource, check_source, read_rows, select_keys,
                                     tfds_source)

__all__ = ["ArraySource", "Batches", "GlobalOrder", "MEMORY_READ", "SOURCE_READ", "StepReader",
           "StepSampler", "check_rows", "tfds_source"]

# Default grain.ReadOptions, chosen with benchmarks/input_pipeline.py: in-memory reads in the
# trainer's thread (grain's reader threads only contend for the GIL); other sources (TFDS
# decodes zlib features, which frees the GIL) read ahead in threads, 2 grain records (steps)
# each.
MEMORY_READ = grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)
SOURCE_READ = grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)
# The DataLoader state layout of grain 0.2.18 (grain/_src/python/data_loader.py).
_GRAIN_STATE_VERSION = 2


class GlobalOrder:
  """The global batch's example indices at each step.

  The permutation of an epoch is computed once (the last two are kept); safe to call from
  grain's reader threads. Pickles (grain's worker processes get a copy).
  """

  def __init__(self, key: jax.Array, n: int, batch_size: int, what: str = "examples"):
    n = check_positive_int("n", n)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size > n:
      raise ValueError(f"batch_size: expected at most the {n} {what}, got {batch_size}")
    if not (jax.dtypes.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key)
            or (np.shape(key) == (2,) and np.asarray(key).dtype == np.uint32)):
      raise ValueError(f"key: expected a jax.random key (jax.random.key or PRNGKey), got "
                       f"{key!r:.80}")
    self.key, self.n, self.batch_size = key, n, batch_size
    self.per_epoch = n // batch_size
    self._lock, self._epochs = threading.Lock(), {}

  def permutation(self, epoch: int) -> np.ndarray:
    """(n,) example indices of ``epoch`` in the order its batches read them."""
    with self._lock:
      if epoch not in self._epochs:
        order = np.asarray(jax.random.permutation(jax.random.fold_in(self.key, epoch), self.n))
        self._epochs = {e: o for e, o in self._epochs.items() if e == epoch - 1}
        self._epochs[epoch] = order
      return self._epochs[epoch]

  def rows(self, step: int) -> np.ndarray:
    """(batch_size,) indices of the examples in the global batch of ``step`` (0-based)."""
    epoch, i = divmod(step, self.per_epoch)
    return self.permutation(epoch)[i * self.batch_size:(i + 1) * self.batch_size]

  def __getstate__(self):
    return dict(key=self.key, n=self.n, batch_size=self.batch_size)

  def __setstate__(self, state):
    self.__init__(state["key"], state["n"], state["batch_size"])

  def __repr__(self) -> str:
    data = np.asarray(jax.random.key_data(self.key)).tolist()
    return f"GlobalOrder(key_data={data}, n={self.n}, batch_size={self.batch_size})"


def check_rows(rows: slice | None, batch_size: int) -> slice:
  """``rows`` (None: all) checked to be a non-empty slice, step 1, of ``batch_size`` rows."""
  if rows is None:
    return slice(0, batch_size)
  ok = (isinstance(rows, slice) and rows.step in (None, 1)
        and all(isinstance(v, (int, np.integer)) for v in (rows.start, rows.stop))
        and 0 <= rows.start < rows.stop <= batch_size)
  if not ok:
    raise ValueError(f"rows: expected slice(start, stop) with 0 <= start < stop <= {batch_size} "
                     f"(rows of the global batch), got {rows!r}")
  return slice(int(rows.start), int(rows.stop))


class StepSampler:
  """grain Sampler over steps: record t is step t (read as a whole by :class:`StepReader`)."""

  def __init__(self, order: GlobalOrder, rows: slice):
    self.order, self.rows = order, rows

  def __len__(self) -> int:
    return sys.maxsize

  def __getitem__(self, index: int) -> grain.RecordMetadata:
    if index < 0:
      raise IndexError(f"index: expected >= 0, got {index}")
    return grain.RecordMetadata(index=index, record_key=index)

  def __repr__(self) -> str:
    return f"StepSampler({self.order!r}, rows={self.rows})"


class StepReader:
  """A grain data source whose record t is step t's batch: ``{name: (rows, ...) array}``."""

  def __init__(self, source, order: GlobalOrder, rows: slice):
    self.source, self.order, self.rows = source, order, rows

  def __len__(self) -> int:
    return sys.maxsize  # grain reads record ``t % len``: every step is its own record

  def __getitem__(self, step: int) -> dict:
    return read_rows(self.source, self.order.rows(step)[self.rows])

  def __repr__(self) -> str:
    return f"StepReader({self.source!r})"


class Batches:
  """This process's rows of each global batch from ``start_step`` on, through grain.

  ``next(batches)`` -> ``{name: (rows.stop - rows.start, ...) array}``; ``batches.step`` is the
  global step (0-based in the order) of the next batch.

  Args:
    source: ``len(source)``, ``source[i] -> {name: array}`` (:class:`ArraySource`,
      :func:`tfds_source` or any such object).
    key: the order's jax.random key.
    batch_size: the global batch, at most ``len(source)``.
    rows: this process's rows of the global batch (``DataParallel.local_rows``); None: all.
    start_step: the global step of the first batch (a resumed trainer's step).
    keys: ``{name: feature}`` or names to keep (see :func:`select_keys`); None keeps all.
    worker_count: grain worker processes (0: read in this process); worker w reads steps
      w, w + W, ... and grain returns them in step order. Each worker gets a pickled copy of
      the source: keep 0 for large in-memory arrays.
    read_options: ``grain.ReadOptions`` (reader threads and their buffer, in steps); None:
      :data:`MEMORY_READ` for an ArraySource, else :data:`SOURCE_READ`.
    what: how the examples are named in the batch_size error.
  """

  def __init__(self, source, key: jax.Array, batch_size: int, rows: slice | None = None, *,
               start_step: int = 0, keys: Mapping | Sequence[str] | None = None,
               worker_count: int = 0, read_options: grain.ReadOptions | None = None,
               what: str = "examples"):
    self.worker_count = check_positive_int("worker_count", worker_count, minimum=0)
    n = check_source(source)
    self.source = select_keys(source, keys)
    batch_size = check_positive_int("batch_size", batch_size)
    self.order = GlobalOrder(key, n, batch_size, what)
    self.rows = check_rows(rows, batch_size)
    sampler = StepSampler(self.order, self.rows)
    data_source = StepReader(self.source, self.order, self.rows)
    if read_options is None:
      read_options = MEMORY_READ if isinstance(self.source, ArraySource) else SOURCE_READ
    if self.worker_count and not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()  # grain's workers read its absl flags (their defaults here)
    self.loader = grain.DataLoader(
        data_source=data_source, sampler=sampler, operations=[],
        worker_count=self.worker_count, shard_options=grain.NoSharding(),
        read_options=read_options)
    self._sampler, self._data_source = sampler, data_source
    self._iterator = iter(self.loader)
    self.step = 0
    start_step = check_positive_int("start_step", start_step, minimum=0)
    if start_step:
      self.seek(start_step)

  def __iter__(self) -> Batches:
    return self

  def __next__(self) -> dict:
    batch = next(self._iterator)
    self.step += 1
    return batch

  def seek(self, step: int) -> None:
    """Makes the next batch that of global step ``step``."""
    step = check_positive_int("step", step, minimum=0)
    self._iterator.set_state(json.dumps(self._grain_state(step)).encode())
    self.step = step

  def get_state(self) -> dict:
    """JSON-able position: ``{"step": next global step, "grain": grain's loader state}``."""
    return {"step": self.step, "grain": json.loads(self._iterator.get_state().decode())}

  def set_state(self, state: Mapping) -> None:
    """Resumes at the state :meth:`get_state` returned, of a loader built the same way."""
    if not isinstance(state, Mapping) or set(state) != {"step", "grain"}:
      raise ValueError(f"state: expected a dict with 'step' and 'grain' (from get_state), got "
                       f"{state!r:.200}")
    step = check_positive_int("state['step']", state["step"], minimum=0)
    grain_state = state["grain"]
    want = self._grain_state(step)
    got = dict(grain_state) if isinstance(grain_state, Mapping) else {}
    differ = sorted(k for k in want if got.get(k) != want[k])
    if differ:
      expected = {k: want[k] for k in differ}
      came = {k: got.get(k) for k in differ} if got else grain_state
      raise ValueError(f"state: expected the state of a loader with this source, order, rows "
                       f"and worker_count at step {step}, got one differing in {differ}: "
                       f"expected {expected!r:.300}, got {came!r:.300}")
    self._iterator.set_state(json.dumps(got).encode())
    self.step = step

  def resume(self, state: Mapping) -> None:
    """Continues from a :meth:`get_state` of this run, saved by this process or by another
    (a checkpoint holds the lead process's): the global order's position is the same in every
    process, so a state of other rows (another process, or another process count) resumes at
    its step; one of these rows is restored whole, and checked, by :meth:`set_state`."""
    if not isinstance(state, Mapping) or "step" not in state:
      raise ValueError(f"state: expected a dict with 'step' (from get_state), got "
                       f"{state!r:.200}")
    grain_state = state.get("grain")
    if isinstance(grain_state, Mapping) and grain_state.get("sampler") == repr(self._sampler):
      self.set_state(state)
    else:
      self.seek(state["step"])

  def _grain_state(self, step: int) -> dict:
    """The state grain's DataLoader records after ``step`` batches (its 0.2.18 layout)."""
    workers = max(self.worker_count, 1)
    # Worker w read the steps t < step with t % workers == w; grain's index of the last
    # record (step) a worker read is -workers + w + (steps it read) * workers.
    done = [(step - w + workers - 1) // workers for w in range(workers)]
    last_seen = {str(w): -workers + w + done[w] * workers for w in range(workers)}
    return {"version": _GRAIN_STATE_VERSION, "last_seen_indices": last_seen,
            "last_worker_index": step % workers - 1, "worker_count": self.worker_count,
            "sampler": repr(self._sampler), "data_source": repr(self._data_source)}

  def __repr__(self) -> str:
    return f"Batches({self.source!r}, {self.order!r}, rows={self.rows}, step={self.step})"
