"""Reading and writing .binvox voxel files (the run-length-encoded format of Patrick Min's binvox).

A file is an ASCII header::

    #binvox 1
    dim 30 30 30
    translate -6.9 -11.0764 -8.75
    scale 22.1528
    data

followed by (value, count) byte pairs, count in 1..255, covering all d^3 voxels. Voxels are
stored with x slowest, then z, then y fastest, so the flat data reshapes to an array indexed
[x, z, y]. Voxel (i, j, k) of the [x, y, z] grid has its centre at
``translate + scale * ((i, j, k) + 0.5) / d`` in the mesh's coordinates.

The project's convention is axis 2 vertical. ModelNet meshes are z-up, so ``up="z"`` returns
[x, y, z] (checked against modelnet10_vox30.npz with the toilet_0345 sample); ShapeNet meshes
are y-up, and ``up="y"`` returns [z, x, y] (a cyclic permutation, so still right-handed).
"""
from __future__ import annotations

import numpy as np

from inverse3d.checks import check_choice, check_file, check_finite, check_shape
from inverse3d.files import atomic_write

# Axis permutation from the file's storage order [x, z, y] to the returned grid, per up axis.
# Both permutations are their own inverse, so writing uses the same one.
_STORAGE_TO_GRID = {"z": (0, 2, 1), "y": (1, 0, 2)}
_MAX_RUN = 255
_MAX_HEADER_LINES = 16


def _parse_header(path: str, f) -> tuple[int, np.ndarray, float]:
  """Reads header lines up to 'data'; returns (d, translate (3,), scale)."""
  first = f.readline()
  if not first.startswith(b"#binvox"):
    raise ValueError(f"{path}: expected a binvox file starting with '#binvox 1', got "
                     f"{first[:20]!r}")
  version = first.split()[1:2]
  if version != [b"1"]:
    raise ValueError(f"{path}: expected binvox version 1, got {first.strip()!r}")
  dims, translate, scale = None, np.zeros(3), 1.0
  for lineno in range(2, _MAX_HEADER_LINES + 2):
    raw = f.readline()
    if not raw:
      raise ValueError(f"{path}: truncated header, expected a 'data' line, file ended at line "
                       f"{lineno}")
    words = raw.decode("ascii", errors="replace").split()
    key, values = (words[0], words[1:]) if words else ("", [])
    try:
      if key == "data":
        break
      if key == "dim":
        dims = [int(v) for v in values]
      elif key == "translate":
        translate = np.array([float(v) for v in values], np.float64)
      elif key == "scale":
        scale = float(values[0])
      else:
        raise ValueError(f"unknown header line {raw.strip()!r}")
    except (ValueError, IndexError) as e:
      raise ValueError(f"{path}: line {lineno}: malformed header ({e})") from None
  else:
    raise ValueError(f"{path}: expected a 'data' line within the first "
                     f"{_MAX_HEADER_LINES} header lines")
  if dims is None or len(dims) != 3 or len(set(dims)) != 1 or dims[0] < 1:
    raise ValueError(f"{path}: expected a header line 'dim d d d' with d >= 1, got {dims}")
  if translate.shape != (3,):
    raise ValueError(f"{path}: expected 'translate tx ty tz', got {translate.tolist()}")
  return dims[0], translate, scale


def read_binvox(path, up: str = "z") -> dict:
  """Reads a .binvox file.

  Args:
    path: the file.
    up: the mesh's vertical axis, "z" (ModelNet) or "y" (ShapeNet); it becomes axis 2.

  Returns:
    dict(voxels=(d, d, d) uint8 in {0, 1} with axis 2 vertical, translate=(3,) float64,
    scale=float). translate and scale are as in the file (mesh coordinates, x y z order).

  Raises:
    FileNotFoundError: no such file. ValueError (naming the file): a bad header, truncated or
    excess run-length data, or values other than 0/1.
  """
  path = check_file("path", path)
  check_choice("up", up, tuple(_STORAGE_TO_GRID))
  with open(path, "rb") as f:
    d, translate, scale = _parse_header(path, f)
    data = np.frombuffer(f.read(), np.uint8)
  if data.size % 2:
    raise ValueError(f"{path}: truncated data, expected (value, count) byte pairs, got an odd "
                     f"number of bytes ({data.size})")
  values, counts = data[0::2], data[1::2]
  total = int(counts.sum(dtype=np.int64))
  if total != d**3:
    raise ValueError(f"{path}: expected run lengths summing to {d}^3 = {d**3} voxels, got "
                     f"{total} (truncated or corrupt file)")
  if values.size and values.max() > 1:
    raise ValueError(f"{path}: expected voxel values 0 or 1, got {int(values.max())}")
  storage = np.repeat(values, counts).reshape(d, d, d)
  voxels = np.ascontiguousarray(storage.transpose(_STORAGE_TO_GRID[up]))
  return dict(voxels=voxels, translate=translate, scale=scale)


def run_length_encode(flat: np.ndarray) -> np.ndarray:
  """Binvox run-length encoding of a flat uint8 array: (value, count) pairs, runs split at 255.

  Args:
    flat: (M,) uint8, M >= 1.
  Returns:
    (2 * R,) uint8 interleaved values and counts; counts sum to M.
  """
  flat = np.asarray(flat, np.uint8)
  starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1])
  lengths = np.diff(np.concatenate([starts, [flat.size]]))
  pieces = -(-lengths // _MAX_RUN)  # ceil: how many pairs each run needs
  counts = np.full(int(pieces.sum()), _MAX_RUN, np.int64)
  counts[np.cumsum(pieces) - 1] = lengths - _MAX_RUN * (pieces - 1)
  values = np.repeat(flat[starts], pieces)
  return np.stack([values, counts.astype(np.uint8)], axis=1).ravel()


def write_binvox(path, voxels, translate=(0.0, 0.0, 0.0), scale: float = 1.0,
                 up: str = "z") -> str:
  """Writes a (d, d, d) {0, 1} grid (axis 2 vertical) as .binvox atomically; returns the path.

  ``up`` names the mesh axis that grid axis 2 holds, as in :func:`read_binvox`.
  """
  voxels = np.asarray(voxels)
  check_shape("voxels", voxels, ("D", "D", "D"))
  if voxels.size == 0 or not np.isin(voxels, (0, 1)).all():
    raise ValueError(f"voxels: expected a non-empty grid of 0/1 values, got shape "
                     f"{voxels.shape} with values {np.unique(voxels)[:5].tolist()}")
  translate = np.asarray(translate, np.float64)
  check_shape("translate", translate, (3,))
  check_finite("translate", translate)
  check_finite("scale", np.float64(scale))
  check_choice("up", up, tuple(_STORAGE_TO_GRID))
  d = voxels.shape[0]
  storage = voxels.astype(np.uint8).transpose(_STORAGE_TO_GRID[up])
  header = (f"#binvox 1\ndim {d} {d} {d}\n"
            f"translate {' '.join(format(t, '.9g') for t in translate)}\n"
            f"scale {format(float(scale), '.9g')}\ndata\n")
  with atomic_write(path) as f:
    f.write(header.encode("ascii"))
    f.write(run_length_encode(storage.ravel()).tobytes())
  return str(path)
