"""Shared test fixtures.

Tests that read ../shared/data use ``shared_file``: on a user's machine a missing file skips the
test with a reason; under CI (``INVERSE3D_REQUIRE_DATA=1``, set by .ci/run) it fails.

``count_host_reads`` counts reads of jax arrays into host memory (device-to-host transfers) made
while the test runs, and records where each was made::

    def test_no_sync(count_host_reads):
      out = render.shade(normals, albedo, light)      # jax device arrays in
      assert count_host_reads.count == 0, count_host_reads.sites
      float(out.sum())
      assert count_host_reads.count == 1
      count_host_reads.reset()                        # count the next part alone

``jax.transfer_guard`` cannot do this on CPU (host and device share memory, so nothing is
"transferred"), hence two hooks: the ``jax.Array`` property ``_value``, through which float(),
int(), bool(), .tolist(), jax.device_get, printing and (off CPU) np.asarray read a device
array; and np.asarray / np.asanyarray / np.array / np.ascontiguousarray called on a concrete
jax array (on CPU these read through the buffer protocol, not ``_value``; .item() uses
np.asarray). Each array read counts once (jax.device_get of a dict of two arrays counts 2; a
read nested in another, np.asarray calling ``_value``, does not count again); a read served
from the array's host cache counts too. The NumPy hook sees calls that look the function up
on the module at call time (``np.asarray(x)``), not a name bound earlier
(``from numpy import asarray``). Not seen on CPU:
NumPy ufuncs applied to a jax array directly (np.isfinite(x)), which read it in C through the
buffer protocol; off CPU they go through ``_value`` and are counted.
"""
import os
import shutil
import tempfile
import threading
import traceback

import jax
import numpy as np
import pytest

from inverse3d.data.paths import shared_data_dir

REQUIRE_DATA_ENV = "INVERSE3D_REQUIRE_DATA"

# Tests build trainers in fresh closures, so jit recompiles the same computations test after
# test (a small GAN iteration took minutes to compile on 2 loaded cores, then 30 s from the
# cache). A compilation cache for the session serves the repeats; it is removed at the end.
_COMPILE_CACHE = tempfile.mkdtemp(prefix="inverse3d-test-jax-cache-")
jax.config.update("jax_compilation_cache_dir", _COMPILE_CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def pytest_sessionfinish(session, exitstatus):
  shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)


def _shared_file(name: str):
  path = shared_data_dir() / name
  if not path.exists():
    message = (f"real data file {path} is missing (it ships in ../shared/data beside the "
               f"checkout, or set INVERSE3D_DATA)")
    if os.environ.get(REQUIRE_DATA_ENV) == "1":
      pytest.fail(message)
    pytest.skip(message)
  return path


@pytest.fixture
def shared_file():
  """``shared_file("modelnet10_vox30.npz")`` -> pathlib.Path of a real data file."""
  return _shared_file


class HostReads:
  """Reads of jax arrays into host memory since the last ``reset``: ``count``, and ``sites``,
  one "file:line in function" per read (the innermost frame outside jax, NumPy and this file)."""

  def __init__(self):
    self.sites: list[str] = []
    self._local = threading.local()

  @property
  def count(self) -> int:
    return len(self.sites)

  def reset(self) -> None:
    self.sites.clear()

  def _wrap(self, read):
    """``read`` counted once per outermost call."""
    def counted(*args, **kwargs):
      depth = getattr(self._local, "depth", 0)
      if depth == 0:
        self.sites.append(_read_site())
      self._local.depth = depth + 1
      try:
        return read(*args, **kwargs)
      finally:
        self._local.depth = depth
    return counted


def _read_site() -> str:
  skip = (os.sep + "jax" + os.sep, os.sep + "jaxlib" + os.sep, os.sep + "numpy" + os.sep,
          os.path.abspath(__file__))
  for frame in reversed(traceback.extract_stack()[:-2]):
    if not any(part in frame.filename for part in skip):
      return f"{frame.filename}:{frame.lineno} in {frame.name}"
  return "?"


@pytest.fixture
def count_host_reads(monkeypatch) -> HostReads:
  """A :class:`HostReads` counting device-to-host reads of jax arrays during the test (see the
  module docstring for what is and is not seen)."""
  from jax._src.array import ArrayImpl

  reads = HostReads()
  value = ArrayImpl.__dict__["_value"]
  monkeypatch.setattr(ArrayImpl, "_value", property(reads._wrap(value.fget)))
  for name in ("asarray", "asanyarray", "array", "ascontiguousarray"):
    original = getattr(np, name)
    counted = reads._wrap(original)

    def convert(x, *args, _original=original, _counted=counted, **kwargs):
      return (_counted if isinstance(x, ArrayImpl) else _original)(x, *args, **kwargs)
    monkeypatch.setattr(np, name, convert)
  return reads
