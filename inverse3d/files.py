"""File writing: atomic (a file appears whole at its final name, or not at all), and JSON that
stays valid.

Files are created as ``open()`` would create them: mode 0666 minus the process umask (the
temporary is made by ``os.open(..., 0o666)``, so the kernel applies the umask), not the 0600
of ``tempfile.mkstemp``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets

import numpy as np


def _temporary(path: str, mode: str):
  """(file object, temporary path) for a new file beside ``path``, created with 0666 & ~umask."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  flags = os.O_CREAT | os.O_EXCL | (os.O_RDWR if "+" in mode else os.O_WRONLY)
  while True:
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
      fd = os.open(tmp, flags, 0o666)
      break
    except FileExistsError:
      continue
  try:
    return os.fdopen(fd, mode), tmp
  except BaseException:
    os.close(fd)
    os.remove(tmp)
    raise


def _remove(paths) -> None:
  for path in paths:
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
  """Opens a temporary file beside ``path``; renames it onto ``path`` only if the block succeeds.

  Usage::

      with atomic_write("out.npz") as f:
        np.savez(f, x=x)
  """
  path = os.fspath(path)
  f, tmp = _temporary(path, mode)
  try:
    with f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    _remove([tmp])
    raise


@contextlib.contextmanager
def atomic_write_all():
  """Writes several files all or nothing.

  Usage::

      with atomic_write_all() as create:
        with create("face.png") as f:       # mode "wb" by default
          f.write(png_bytes)
        with create("face.obj", "w") as f:
          f.write(text)

  Each ``create(path, mode)`` writes a temporary beside ``path``. The temporaries are renamed
  onto their paths only when the whole block succeeds; if the block raises, or a rename fails,
  every temporary and every file renamed so far is removed (so a file that was there before
  and was already replaced is gone too) and the error propagates.
  """
  pending: list[tuple[str, str]] = []  # (temporary, final path)

  @contextlib.contextmanager
  def create(path, mode: str = "wb"):
    path = os.fspath(path)
    f, tmp = _temporary(path, mode)
    pending.append((tmp, path))
    with f:
      yield f

  renamed: list[str] = []
  try:
    yield create
    for tmp, path in pending:
      os.replace(tmp, path)
      renamed.append(path)
  except BaseException:
    _remove([tmp for tmp, _ in pending] + renamed)
    raise


def json_safe(obj, nonfinite: dict | None = None, _path: str = ""):
  """``obj`` with every value JSON can hold: NaN and +-inf floats become None (JSON null);
  NumPy / jax scalars and arrays become Python numbers and lists; tuples become lists.

  If ``nonfinite`` is a dict, each replaced value is recorded in it as ``{key path: "nan" |
  "inf" | "-inf"}`` (paths join dict keys and list indices with "/").
  """
  def where(key):
    return f"{_path}/{key}" if _path else str(key)

  if isinstance(obj, dict):
    return {k: json_safe(v, nonfinite, where(k)) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v, nonfinite, where(i)) for i, v in enumerate(obj)]
  if isinstance(obj, (bool, np.bool_)):
    return bool(obj)
  if isinstance(obj, (int, np.integer)):
    return int(obj)
  if isinstance(obj, (float, np.floating)):
    value = float(obj)
    if math.isfinite(value):
      return value
    if nonfinite is not None:
      nonfinite[_path] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return None
  if hasattr(obj, "shape") and hasattr(obj, "dtype"):  # NumPy and jax arrays, 0-d included
    return json_safe(np.asarray(obj).tolist(), nonfinite, _path)
  return obj


def dumps_json(obj, **kwargs) -> str:
  """``json.dumps(json_safe(obj), allow_nan=False, **kwargs)``: valid JSON whatever floats
  ``obj`` holds (non-finite ones are written as null)."""
  return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json(path, obj, indent: int | None = 2, **kwargs) -> str:
  """Writes ``obj`` to ``path`` atomically as valid JSON (see :func:`dumps_json`); returns the
  path."""
  text = dumps_json(obj, indent=indent, **kwargs)
  with atomic_write(path, "w") as f:
    f.write(text + "\n")
  return os.fspath(path)


def save_figure(fig, path, dpi: int = 120) -> str:
  """Saves a matplotlib figure atomically as PNG and closes it. Returns the path."""
  import matplotlib.pyplot as plt
  with atomic_write(path) as f:
    fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  return os.fspath(path)
