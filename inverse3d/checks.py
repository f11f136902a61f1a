"""Input validation shared by every public function.

Each check raises ``ValueError`` (or ``FileNotFoundError`` for paths) with a message that names
the argument, what was expected and what came, e.g.::

    ValueError: voxels: expected shape (N, 30, 30, 30), got (4, 30, 30)

Which inputs are checked:

- Shape and dtype checks (``check_shape``, ``check_dtype``, ...) read metadata only; they run
  on every input, NumPy, jax device arrays and tracers alike.
- Value checks (``check_finite``, ``check_range``, ``check_open_range``, ``check_binary``,
  ``check_interval``) read the values, so by default they run on host inputs only: NumPy
  arrays, NumPy and Python scalars, lists and tuples of them. A ``jax.Array`` (a device array,
  or a tracer under jit / vmap / grad), or a list holding one, is skipped: checking it would
  copy it to the host and wait for the device on every call. Data enters the jobs as NumPy
  arrays, so it is checked there; device arrays are what our own code produced.

Debug switch: ``with checks.debug_values():`` (or ``INVERSE3D_CHECK_VALUES=1`` in the
environment, for a whole run; the context manager wins where both are set, and
``debug_values(False)`` turns the checks off inside a block) also checks device arrays.
Concrete ones are read to the host on the spot. Traced ones get a ``jax.debug.callback`` that
checks the values when the computation runs: outside jit it raises the ValueError itself,
under jit the computation fails with a ``jax.errors.JaxRuntimeError`` whose message holds the
same text. Under jit the switch is read when the function is traced: a function traced with
the switch off carries no checks until it is traced again (and vice versa).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import sys
from typing import Callable, Sequence

import numpy as np

CHECK_VALUES_ENV = "INVERSE3D_CHECK_VALUES"
"""Environment variable: "1" turns value checks on for device arrays (see the module doc)."""
_DEBUG_VALUES: contextvars.ContextVar = contextvars.ContextVar("inverse3d_debug_values",
                                                               default=None)


@contextlib.contextmanager
def debug_values(enabled: bool = True):
  """Within the block, value checks also read jax device arrays and tracers (or, with
  ``enabled=False``, skip them even where ``INVERSE3D_CHECK_VALUES=1``)."""
  token = _DEBUG_VALUES.set(bool(enabled))
  try:
    yield
  finally:
    _DEBUG_VALUES.reset(token)


def values_checked_on_device() -> bool:
  """Whether value checks read jax arrays now: the innermost ``debug_values`` block, else
  ``INVERSE3D_CHECK_VALUES == "1"``."""
  enabled = _DEBUG_VALUES.get()
  return os.environ.get(CHECK_VALUES_ENV) == "1" if enabled is None else enabled


def _jax_leaves(x) -> list:
  """The jax.Array leaves of ``x`` (itself, or inside nested lists and tuples)."""
  jax = sys.modules.get("jax")  # without jax imported, nothing can be a jax array
  if jax is None:
    return []
  if isinstance(x, jax.Array):
    return [x]
  if isinstance(x, (list, tuple)):
    return [leaf for item in x for leaf in _jax_leaves(item)]
  return []


def _check_values(name: str, x, check: Callable[[np.ndarray], None]) -> None:
  """Runs ``check`` on the values of ``x`` as a NumPy array, where the policy of the module
  docstring allows: always for host inputs, for jax arrays only under the debug switch."""
  leaves = _jax_leaves(x)
  if leaves:
    if not values_checked_on_device():
      return
    import jax
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
      jax.debug.callback(lambda value: check(np.asarray(value)), x)
      return
  try:
    arr = np.asarray(x)
  except (TypeError, ValueError):
    raise ValueError(f"{name}: expected an array of numbers, got {type(x).__name__} "
                     f"{x!r:.80}") from None
  check(arr)


def _describe_shape(shape: Sequence[int | str | None]) -> str:
  return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def check_shape(name: str, x, shape: Sequence[int | str | None]) -> dict:
  """Checks that ``x`` has ``len(shape)`` axes matching ``shape``.

  Entries of ``shape`` are an int (must match), None (any size) or a symbol string such as "N"
  (any size, but equal wherever the same symbol recurs). Returns the symbol bindings.
  """
  got = tuple(np.shape(x))
  bindings: dict = {}
  ok = len(got) == len(shape)
  if ok:
    for want, have in zip(shape, got):
      if isinstance(want, str):
        if bindings.setdefault(want, have) != have:
          ok = False
      elif want is not None and want != have:
        ok = False
  if not ok:
    raise ValueError(f"{name}: expected shape {_describe_shape(shape)}, got {got}")
  return bindings


def check_finite(name: str, x) -> None:
  """Raises if ``x`` holds NaN or inf (a value check: see the module docstring)."""
  def check(arr):
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
      bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
      raise ValueError(f"{name}: expected finite values, got {bad} NaN or inf entries")
  _check_values(name, x, check)


def check_range(name: str, x, low: float, high: float) -> None:
  """Raises if ``x`` has values outside [low, high] (a value check)."""
  def check(arr):
    if arr.size and (arr.min() < low or arr.max() > high):
      raise ValueError(
          f"{name}: expected values in [{low}, {high}], got [{arr.min()}, {arr.max()}]")
  _check_values(name, x, check)


def check_open_range(name: str, x, low: float, high: float) -> None:
  """Raises if ``x`` has values outside the open interval (low, high) (a value check)."""
  def check(arr):
    if arr.size and not (arr.min() > low and arr.max() < high):
      raise ValueError(
          f"{name}: expected values in ({low}, {high}), got [{arr.min()}, {arr.max()}]")
  _check_values(name, x, check)


def check_interval(name: str, pair, low: float = -np.inf, high: float = np.inf) -> None:
  """Raises unless ``pair`` is two finite numbers (a, b) with low <= a < b <= high, e.g. a
  ``depth_range``. The length is checked always, the values as a value check."""
  shape = (len(pair),) if isinstance(pair, (list, tuple)) else tuple(np.shape(pair))
  if shape != (2,):
    raise ValueError(f"{name}: expected a pair (low, high), got {pair!r:.80}")

  def check(arr):
    if arr.shape != (2,) or arr.dtype.kind not in "biuf":
      raise ValueError(f"{name}: expected a pair of real numbers (low, high), got {arr!r:.80}")
    a, b = (float(v) for v in arr)
    if not (np.isfinite(a) and np.isfinite(b) and low <= a < b <= high):
      where = "" if (low, high) == (-np.inf, np.inf) else f" in [{low}, {high}]"
      raise ValueError(f"{name}: expected finite (low, high) with low < high{where}, "
                       f"got ({a}, {b})")
  _check_values(name, pair, check)


def check_choice(name: str, value, choices: Sequence) -> None:
  """Raises if ``value`` is not one of ``choices``."""
  if value not in choices:
    raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


_DTYPE_KINDS = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "float",
                "c": "complex"}


def check_dtype(name: str, x, kinds: str) -> None:
  """Raises unless the dtype kind of ``x`` is in ``kinds`` (NumPy codes: "b" bool, "i"/"u"
  integer, "f" float), e.g. ``check_dtype("voxels", v, "biuf")``. Works on tracers too."""
  dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
  if dtype.kind not in kinds:
    wanted = " or ".join(_DTYPE_KINDS.get(k, k) for k in kinds)
    raise ValueError(f"{name}: expected a {wanted} array, got dtype {dtype}")


def check_binary(name: str, x) -> None:
  """Raises if ``x`` holds values other than 0 and 1 (a value check)."""
  def check(arr):
    bad = arr.size - np.count_nonzero((arr == 0) | (arr == 1))
    if bad:
      odd = arr[(arr != 0) & (arr != 1)].ravel()[:3].tolist()
      raise ValueError(f"{name}: expected values in {{0, 1}}, got {bad} other entries, "
                       f"e.g. {odd}")
  _check_values(name, x, check)


def check_number(name: str, value, *, positive: bool = False) -> float:
  """``value`` as a finite float, > 0 if ``positive`` else >= 0."""
  value = float(value)
  if not math.isfinite(value) or value < 0 or (positive and value == 0):
    raise ValueError(f"{name}: expected a finite number {'>' if positive else '>='} 0, "
                     f"got {value!r}")
  return value


def check_positive_int(name: str, value, minimum: int = 1, maximum: int | None = None,
                       hint: str = "") -> int:
  """Returns ``value`` as int, raising unless it is an integer in [minimum, maximum].

  ``hint`` (e.g. why the maximum is what it is) is appended to the message.
  """
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum
      or (maximum is not None and value > maximum)):
    wanted = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    raise ValueError(f"{name}: expected an integer {wanted}, got {value!r}" +
                     (f" ({hint})" if hint else ""))
  return int(value)


def check_min_size(name: str, x, minimum: int, axis: int = 0) -> None:
  """Raises unless ``x`` has at least ``minimum`` entries along ``axis`` (e.g. no empty batch)."""
  shape = tuple(np.shape(x))
  if shape[axis] < minimum:
    raise ValueError(f"{name}: expected at least {minimum} entries along axis {axis}, "
                     f"got shape {shape}")


def check_file(name: str, path, hint: str = "") -> str:
  """Returns ``path`` as str, raising FileNotFoundError naming the argument if it is absent."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{name}: expected an existing file, got {path!r}" +
                            (f". {hint}" if hint else ""))
  return path


def check_tree_shapes(name: str, got, expected) -> None:
  """Raises unless pytrees ``got`` and ``expected`` have the same keys and leaf shapes.

  The message names the first differing leaf by its key path, e.g.
  ``params: expected conv1/kernel with shape (11, 11, 3, 64), got (11, 11, 3, 32)``.
  """
  import jax

  def leaves(tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): np.shape(v)
            for path, v in flat}

  have, want = leaves(got), leaves(expected)
  for key in sorted(set(have) | set(want)):
    if key not in have:
      raise ValueError(f"{name}: expected {key} with shape {want[key]}, got no such entry")
    if key not in want:
      raise ValueError(f"{name}: expected entries {sorted(want)}, got an extra entry {key}")
    if have[key] != want[key]:
      raise ValueError(f"{name}: expected {key} with shape {want[key]}, got {have[key]}")


def check_per_sample(name: str, x, ok: Callable[[np.ndarray], np.ndarray],
                     expected: str) -> None:
  """Raises unless ``ok(values)``, a (B,) bool array from the NumPy values of ``x`` (B, ...),
  holds for every sample, e.g. a mask with a foreground pixel in each image (a value check).
  The message names the failing samples: ``mask: expected <expected>, got 2 of 8 that do not
  (indices [0, 3])``."""
  def check(arr):
    bad = np.flatnonzero(~np.asarray(ok(arr), bool))
    if bad.size:
      raise ValueError(f"{name}: expected {expected}, got {bad.size} of {len(arr)} that do "
                       f"not (indices {bad[:8].tolist()})")
  _check_values(name, x, check)
