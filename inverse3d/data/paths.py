"""Where real data lives: ../shared/data beside the checkout, or a path the user names."""
from __future__ import annotations

import os
import pathlib

DATA_ENV = "INVERSE3D_DATA"


def shared_data_dir() -> pathlib.Path:
  """The real-data folder: $INVERSE3D_DATA if set, else ``shared/data`` beside the repository."""
  if os.environ.get(DATA_ENV):
    return pathlib.Path(os.environ[DATA_ENV])
  return pathlib.Path(__file__).resolve().parents[3] / "shared" / "data"


def resolve_data_path(name: str | os.PathLike) -> pathlib.Path:
  """An absolute path stays as it is; a relative one is taken inside :func:`shared_data_dir`."""
  path = pathlib.Path(name)
  return path if path.is_absolute() or path.exists() else shared_data_dir() / path
