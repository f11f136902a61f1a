"""Input validation shared by every public function.

Each check raises ``ValueError`` (or ``FileNotFoundError`` for paths) with a message that names
the argument, what was expected and what came, e.g.::

    ValueError: voxels: expected shape (N, 30, 30, 30), got (4, 30, 30)
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np


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
  """Raises if ``x`` holds NaN or inf. Works on concrete arrays only (skipped under jit)."""
  try:
    arr = np.asarray(x)
  except Exception:  # a tracer: values are unknown at trace time
    return
  if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
    bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
    raise ValueError(f"{name}: expected finite values, got {bad} NaN or inf entries")


def check_range(name: str, x, low: float, high: float) -> None:
  """Raises if a concrete ``x`` has values outside [low, high]."""
  try:
    arr = np.asarray(x)
  except Exception:
    return
  if arr.size and (arr.min() < low or arr.max() > high):
    raise ValueError(
        f"{name}: expected values in [{low}, {high}], got [{arr.min()}, {arr.max()}]")


def check_open_range(name: str, x, low: float, high: float) -> None:
  """Raises if a concrete ``x`` has values outside the open interval (low, high)."""
  try:
    arr = np.asarray(x)
  except Exception:
    return
  if arr.size and not (arr.min() > low and arr.max() < high):
    raise ValueError(
        f"{name}: expected values in ({low}, {high}), got [{arr.min()}, {arr.max()}]")


def check_choice(name: str, value, choices: Sequence) -> None:
  """Raises if ``value`` is not one of ``choices``."""
  if value not in choices:
    raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


_DTYPE_KINDS = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "float"}


def check_dtype(name: str, x, kinds: str) -> None:
  """Raises unless the dtype kind of ``x`` is in ``kinds`` (NumPy codes: "b" bool, "i"/"u"
  integer, "f" float), e.g. ``check_dtype("voxels", v, "biuf")``. Works on tracers too."""
  dtype = np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype
  if dtype.kind not in kinds:
    wanted = " or ".join(_DTYPE_KINDS.get(k, k) for k in kinds)
    raise ValueError(f"{name}: expected a {wanted} array, got dtype {dtype}")


def check_binary(name: str, x) -> None:
  """Raises if a concrete ``x`` holds values other than 0 and 1 (skipped under jit)."""
  try:
    arr = np.asarray(x)
  except Exception:
    return
  bad = arr.size - np.count_nonzero((arr == 0) | (arr == 1))
  if bad:
    odd = arr[(arr != 0) & (arr != 1)].ravel()[:3].tolist()
    raise ValueError(f"{name}: expected values in {{0, 1}}, got {bad} other entries, "
                     f"e.g. {odd}")


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
