"""Atomic file writing: a file appears whole at its final name, or not at all."""
from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
  """Opens a temporary file beside ``path``; renames it onto ``path`` only if the block succeeds.

  Usage::

      with atomic_write("out.npz") as f:
        np.savez(f, x=x)
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                             suffix=".tmp")
  try:
    with os.fdopen(fd, mode) as f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def save_figure(fig, path, dpi: int = 120) -> str:
  """Saves a matplotlib figure atomically as PNG and closes it. Returns the path."""
  import matplotlib.pyplot as plt
  with atomic_write(path) as f:
    fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  return os.fspath(path)
