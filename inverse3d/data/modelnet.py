"""ModelNet10 voxel grids (30^3, axis 2 vertical) with a report of the file's known quirks.

The file (modelnet10_vox30.npz in shared/data) holds X_train (N, 30, 30, 30) 0/1, y_train (N,),
X_test, y_test. Its quirks, found by :func:`load_modelnet10` and kept in its report: 7 empty
train grids and 1 empty test grid, 191 train grids that repeat an earlier train grid (8 of them
with a different label), 15 such repeats in test, and 72 test grids identical to a train grid.
"""
from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from inverse3d.data.paths import resolve_data_path, shared_data_dir

MODELNET10_CLASSES = ("bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand",
                      "sofa", "table", "toilet")
MODELNET10_FILE = "modelnet10_vox30.npz"
VOXEL_SIZE = 30
_SPLITS = ("train", "test")


def _missing_hint() -> str:
  return (f"ModelNet10 comes from Princeton's 3D ShapeNets page "
          f"(http://3dshapenets.cs.princeton.edu/, ModelNet10.zip, meshes that "
          f"inverse3d.data.read_off and voxelize_mesh turn into voxels); the voxelised "
          f"data/modelnet10.npz of github.com/amitregmi/VoxNet-Google-Colab has this layout. Put "
          f"it at {shared_data_dir() / MODELNET10_FILE}, set INVERSE3D_DATA to its folder, or "
          f"pass path=")


def _read_npz(path: str) -> dict:
  """Reads and validates the four arrays (X as uint8, y as int32); ValueError naming the file."""
  names = [f"{a}_{s}" for s in _SPLITS for a in "Xy"]
  try:
    with np.load(path, allow_pickle=False) as npz:
      files = list(npz.files)
      arrays = {key: npz[key] for key in names if key in files}
  except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
    raise ValueError(f"{path}: expected a readable .npz file, got a corrupt or truncated one "
                     f"({type(e).__name__}: {e})") from None
  missing = [key for key in names if key not in arrays]
  if missing:
    raise ValueError(f"{path}: expected arrays X_train, y_train, X_test, y_test, missing "
                     f"{missing} (has {files})")
  for split in _SPLITS:
    x, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
    if x.ndim != 4 or x.shape[1:] != (VOXEL_SIZE,) * 3 or y.shape != x.shape[:1]:
      raise ValueError(f"{path}: expected X_{split} of shape (N, 30, 30, 30) and y_{split} of "
                       f"shape (N,), got {x.shape} and {y.shape}")
    if x.dtype.kind not in "biu" or (x.size and (x.min() < 0 or x.max() > 1)):
      raise ValueError(f"{path}: expected X_{split} integer values in {{0, 1}}, got {x.dtype} "
                       f"in [{x.min()}, {x.max()}]")
    if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= 10)):
      raise ValueError(f"{path}: expected y_{split} integer labels in [0, 9], got {y.dtype} "
                       f"values {np.unique(y)[:12].tolist()}")
    arrays[f"X_{split}"], arrays[f"y_{split}"] = x.astype(np.uint8), y.astype(np.int32)
  return arrays


def _grid_keys(voxels: np.ndarray) -> np.ndarray:
  """(N,) hashable keys, equal exactly when two grids are equal (bit-packed bytes)."""
  packed = np.packbits(voxels.reshape(len(voxels), -1).astype(bool), axis=1)
  return np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()


def empty_indices(voxels: np.ndarray) -> np.ndarray:
  """Indices (int64) of all-zero grids in (N, D, H, W) voxels."""
  return np.flatnonzero(~voxels.reshape(len(voxels), -1).any(axis=1))


def duplicate_indices(voxels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Finds grids that repeat an earlier grid exactly.

  Args:
    voxels: (N, D, H, W).
  Returns:
    (indices, first): (K,) int64 indices of the repeats (increasing) and (K,) the index of the
    first grid each one repeats. N - K is the number of distinct grids.
  """
  _, first_of_key, key_id = np.unique(_grid_keys(voxels), return_index=True,
                                      return_inverse=True)
  first = first_of_key[key_id.ravel()]
  indices = np.flatnonzero(first != np.arange(len(voxels)))
  return indices, first[indices]


def _report(arrays: dict) -> dict:
  report = {}
  for split in _SPLITS:
    x, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
    empty = empty_indices(x)
    dup, first = duplicate_indices(x)
    report[f"empty_{split}"] = dict(count=len(empty), indices=empty)
    report[f"duplicate_{split}"] = dict(count=len(dup), indices=dup, first=first,
                                        label_conflicts=int(np.sum(y[dup] != y[first])))
  in_train = np.flatnonzero(np.isin(_grid_keys(arrays["X_test"]), _grid_keys(arrays["X_train"])))
  report["test_in_train"] = dict(count=len(in_train), indices=in_train)
  return report


def load_modelnet10(path=MODELNET10_FILE, drop_empty: bool = False,
                    drop_duplicates: bool = False) -> dict:
  """Loads ModelNet10 voxel grids and reports empty and duplicated samples.

  Args:
    path: the .npz file; a relative path is taken inside the shared data folder
      (inverse3d.data.paths.resolve_data_path).
    drop_empty: remove all-zero grids from both splits.
    drop_duplicates: remove grids repeating an earlier grid of the same split (the first copy
      stays; test grids that also occur in train are reported, not removed).

  Returns:
    dict(train=dict(voxels=(N, 30, 30, 30) uint8 in {0, 1}, axis 2 vertical, labels=(N,)
    int32), test=dict(...), class_names=MODELNET10_CLASSES, report=dict(empty_train,
    empty_test, duplicate_train, duplicate_test, test_in_train)). Each report entry is
    dict(count, indices) with indices into the file's arrays (before dropping); duplicate
    entries also hold ``first`` (the index each repeat copies) and ``label_conflicts``.

  Raises:
    FileNotFoundError: the file is missing (the message says where to get it and put it).
    ValueError: a corrupt or truncated file, missing arrays, wrong shapes or values.
  """
  resolved = resolve_data_path(path)
  if not os.path.isfile(resolved):
    raise FileNotFoundError(f"path: expected the ModelNet10 voxel file, got {os.fspath(path)!r} "
                            f"(looked at {resolved}). {_missing_hint()}")
  arrays = _read_npz(os.fspath(resolved))
  report = _report(arrays)
  out = dict(class_names=MODELNET10_CLASSES, report=report)
  for split in _SPLITS:
    keep = np.ones(len(arrays[f"y_{split}"]), bool)
    if drop_empty:
      keep[report[f"empty_{split}"]["indices"]] = False
    if drop_duplicates:
      keep[report[f"duplicate_{split}"]["indices"]] = False
    x, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
    out[split] = dict(voxels=x if keep.all() else x[keep], labels=y if keep.all() else y[keep])
  return out
