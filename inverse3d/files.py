"""Atomic file writing: a file appears whole at its final name, or not at all.

Files are created as ``open()`` would create them: mode 0666 minus the process umask (the
temporary is made by ``os.open(..., 0o666)``, so the kernel applies the umask), not the 0600
of ``tempfile.mkstemp``.
"""
from __future__ import annotations

import contextlib
import os
import secrets


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


def save_figure(fig, path, dpi: int = 120) -> str:
  """Saves a matplotlib figure atomically as PNG and closes it. Returns the path."""
  import matplotlib.pyplot as plt
  with atomic_write(path) as f:
    fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  return os.fspath(path)
