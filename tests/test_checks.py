"""Value checks: host inputs are checked, jax arrays only under the debug switch; the
``count_host_reads`` fixture sees every way of reading a device array."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d import checks
from inverse3d.checks import (check_binary, check_dtype, check_finite, check_interval,
                              check_open_range, check_range, debug_values)

NAN = np.array([1.0, np.nan], np.float32)


@pytest.mark.parametrize("read", [  # looked up at call time: the fixture patches np.asarray...
    lambda x: np.asarray(x), lambda x: np.array(x), lambda x: np.asanyarray(x),
    lambda x: np.ascontiguousarray(x), lambda x: np.asarray(x, np.float64), lambda x: float(x[0]),
    lambda x: int(x[0]), lambda x: bool(x[0]), lambda x: x[0].item(), lambda x: x.tolist(),
    jax.device_get, lambda x: jax.device_get({"a": x})["a"], repr,
])
def test_count_host_reads_sees_each_way_to_read(count_host_reads, read):
  x = jnp.arange(3.0) + 1  # a fresh device array, not yet read
  assert count_host_reads.count == 0
  read(x)
  assert count_host_reads.count == 1, count_host_reads.sites
  assert "test_checks.py" in count_host_reads.sites[0]
  count_host_reads.reset()
  assert count_host_reads.count == 0


def test_count_host_reads_counts_each_array_once(count_host_reads):
  metrics = {"loss": jnp.float32(1.0) + 0, "grad_norm": jnp.float32(2.0) + 0}
  host = jax.device_get(metrics)
  assert count_host_reads.count == 2, count_host_reads.sites
  float(host["loss"])  # already NumPy: no read
  assert count_host_reads.count == 2


def test_count_host_reads_ignores_metadata_and_host_arrays(count_host_reads):
  x = jnp.ones((2, 3))
  np.shape(x), np.ndim(x), x.dtype, len(x), jnp.asarray(x), x + 1
  np.asarray(np.ones(3)), np.array([1.0, 2.0])
  jnp.asarray(np.ones(3))
  assert count_host_reads.count == 0, count_host_reads.sites


@pytest.mark.parametrize("check,args,bad", [
    (check_finite, (), NAN),
    (check_range, (0.0, 1.0), np.array([0.5, 2.0])),
    (check_open_range, (0.0, 1.0), np.array([0.5, 1.0])),
    (check_binary, (), np.array([0, 2])),
    (check_interval, (), np.array([1.0, 0.5])),
])
def test_value_checks_read_host_inputs_and_skip_device_arrays(count_host_reads, check, args,
                                                              bad):
  with pytest.raises(ValueError, match="^x: expected"):
    check("x", bad, *args)
  with pytest.raises(ValueError, match="^x: expected"):
    check("x", bad.tolist(), *args)
  device = jnp.asarray(bad)
  check("x", device, *args)                   # skipped: no error, no read
  check("x", [device[0], device[1]], *args)   # a list holding device arrays: skipped too
  assert count_host_reads.count == 0, count_host_reads.sites
  with debug_values():
    with pytest.raises(ValueError, match="^x: expected"):
      check("x", device, *args)
    assert count_host_reads.count >= 1
    with debug_values(False):
      check("x", device, *args)


def test_env_var_turns_device_checks_on(monkeypatch):
  device = jnp.asarray(NAN)
  monkeypatch.setenv(checks.CHECK_VALUES_ENV, "1")
  assert checks.values_checked_on_device()
  with pytest.raises(ValueError, match="x: expected finite values, got 1 NaN"):
    check_finite("x", device)
  with debug_values(False):  # the context manager wins
    check_finite("x", device)
  monkeypatch.setenv(checks.CHECK_VALUES_ENV, "0")
  assert not checks.values_checked_on_device()
  check_finite("x", device)


def test_debug_switch_checks_traced_values():
  def make():
    def f(x):
      check_finite("x", x)
      return x * 2
    return f

  quiet = jax.jit(make())
  jax.block_until_ready(quiet(NAN))  # traced without the switch: no check
  with debug_values():
    with pytest.raises(ValueError, match="x: expected finite values, got 1 NaN"):
      jax.vmap(make())(jnp.asarray(NAN)[None])  # eager tracers: the ValueError itself
    checked = jax.jit(make())
    with pytest.raises(jax.errors.JaxRuntimeError, match="x: expected finite values, got 1"):
      jax.block_until_ready(checked(NAN))
    np.testing.assert_array_equal(checked(np.ones(2, np.float32)), 2.0)
    jax.block_until_ready(quiet(NAN))  # the switch is read at trace time: still unchecked


def test_check_interval_messages():
  check_interval("depth_range", (0.9, 1.1))
  for bad in ((np.nan, 1.1), (1.1, 0.9), (1.0, 1.0), (0.0, np.inf)):
    with pytest.raises(ValueError, match=r"depth_range: expected finite \(low, high\) with low "
                                         r"< high, got"):
      check_interval("depth_range", bad)
  with pytest.raises(ValueError, match=r"depth_range: expected a pair \(low, high\), got"):
    check_interval("depth_range", (0.9, 1.0, 1.1))
  with pytest.raises(ValueError, match=r"r: expected finite \(low, high\) with low < high in "
                                       r"\[0.0, 1.0\], got \(0.5, 2.0\)"):
    check_interval("r", (0.5, 2.0), 0.0, 1.0)


def test_check_dtype_names_complex():
  with pytest.raises(ValueError, match="z: expected a float array, got dtype complex64"):
    check_dtype("z", np.zeros(2, np.complex64), "f")
  with pytest.raises(ValueError, match="z: expected a complex array, got dtype float32"):
    check_dtype("z", jnp.zeros(2), "c")
