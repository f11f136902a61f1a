"""Readers for real morphable face models, each returned as a :class:`FaceModel`.

Supported files (dispatched on the extension):

- ``.npz``: the ICT-FaceKit face in ``shared/data/face_model_ict.npz`` (centimetres). Its
  ``basis_orth`` modes are orthonormal directions already scaled by their standard deviation
  ``stddev_orth`` and give the same Gaussian as ``basis``, so they are used as they are. The
  file has no colour: the albedo is uniform skin with no albedo modes.
- ``.mat``: Basel Face Model 2009, ``01_MorphableModel.mat`` (micrometres): shapeMU (3V, 1) in
  vertex order x1, y1, z1, x2, ...; shapePC (3V, K) orthonormal; shapeEV (K, 1) standard
  deviations (not variances); texMU, texPC, texEV likewise with colours in 0..255;
  tl (T, 3) 1-based triangles.
- ``.h5`` / ``.hdf5``: Basel Face Model 2017/2019 (millimetres), groups shape/model and
  color/model with mean (3V,), pcaBasis (3V, K) orthonormal, pcaVariance (K,) variances,
  colours in [0, 1], and shape/representer/cells (3, T) 0-based triangles.

Bases are scaled so that alpha ~ N(0, I) reproduces each model's Gaussian. Triangles are
re-wound where needed so the mean face's normals point to +z (BFM 2009 stores them the
other way round).
"""
from __future__ import annotations

import os
import zipfile
import zlib

import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_choice, check_file, check_finite
from inverse3d.data.face_model import SKIN_RGB, FaceModel, check_face_model
from inverse3d.data.paths import resolve_data_path, shared_data_dir

# What numpy, scipy.io and h5py raise on corrupt or truncated files (scipy.io.loadmat raises
# NotImplementedError for MATLAB v7.3 files), turned into one ValueError naming the file.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, IndexError,
                zipfile.BadZipFile, zlib.error, NotImplementedError)


class _LayoutError(Exception):
  """A file that opens but lacks an array or holds one of the wrong shape."""


def _require(found, keys, what: str) -> None:
  missing = [k for k in keys if k not in found]
  if missing:
    raise _LayoutError(f"expected {what} {list(keys)}, missing {missing}")


def _hint(path: str) -> str:
  if path.endswith(".npz"):
    return ("face_model_ict.npz ships in ../shared/data beside the checkout (set "
            "INVERSE3D_DATA to move it); it is derived from ICT-FaceKit, "
            "https://github.com/ICT-VGL/ICT-FaceKit")
  return ("The Basel Face Model cannot be downloaded automatically: request it at "
          "https://faces.dmi.unibas.ch/bfm/ (01_MorphableModel.mat of BFM 2009, or "
          "model2017-1_bfm_nomouth.h5 of BFM 2017), then put the file in "
          f"{shared_data_dir()} or pass its full path")


def orient_triangles(mean: np.ndarray, triangles: np.ndarray) -> np.ndarray:
  """Returns ``triangles`` (T, 3), reversed if the mean face's area-weighted normal (of the
  (V, 3) ``mean``) points to -z, so that it points to +z (counter-clockwise from the front)."""
  a, b, c = (mean[triangles[:, i]].astype(np.float64) for i in range(3))
  if np.cross(b - a, c - a)[:, 2].sum() < 0:
    return triangles[:, ::-1].copy()
  return triangles


def _model(mean, basis, albedo_mean, albedo_basis, triangles) -> FaceModel:
  """Checks and orients arrays in FaceModel layout; returns the float32 / int32 model."""
  triangles = np.asarray(triangles).astype(np.int64)
  model = FaceModel(mean, basis, albedo_mean, albedo_basis, triangles)
  try:
    check_face_model("model", model)
    for name in ("mean", "basis", "albedo_mean", "albedo_basis"):
      check_finite(name, getattr(model, name))
  except ValueError as error:
    raise _LayoutError(str(error)) from None
  v = mean.shape[0]
  if triangles.size and (triangles.min() < 0 or triangles.max() >= v):
    raise _LayoutError(f"triangles: expected indices in [0, {v - 1}], got "
                       f"[{triangles.min()}, {triangles.max()}]")
  return FaceModel(mean=jnp.asarray(mean, jnp.float32), basis=jnp.asarray(basis, jnp.float32),
                   albedo_mean=jnp.asarray(albedo_mean, jnp.float32),
                   albedo_basis=jnp.asarray(albedo_basis, jnp.float32),
                   triangles=jnp.asarray(orient_triangles(mean, triangles), jnp.int32))


def _vertices(flat: np.ndarray) -> np.ndarray:
  """(3V,) -> (V, 3) and (3V, K) -> (K, V, 3), from vertex order x1, y1, z1, x2, ..."""
  flat = np.asarray(flat, np.float64)
  if flat.shape[0] % 3:
    raise _LayoutError(f"expected 3V values per vertex array, got shape {flat.shape}")
  return flat.reshape(-1, 3) if flat.ndim == 1 else flat.T.reshape(flat.shape[1], -1, 3)


def _scaled_modes(pc, std) -> np.ndarray:
  """pc (3V, K) orthonormal columns, std (K,) -> (K, V, 3) modes scaled by std."""
  pc = np.asarray(pc, np.float64)
  std = np.asarray(std, np.float64).reshape(-1)
  if pc.ndim != 2 or pc.shape[1] != std.size:
    raise _LayoutError(f"expected a (3V, K) basis with K = {std.size} deviations, got basis "
                       f"shape {pc.shape}")
  return _vertices(pc * std)


def _read_ict(path: str) -> FaceModel:
  with np.load(path) as data:
    _require(data.files, ("mean", "basis_orth", "triangles"), "arrays")
    mean = np.asarray(data["mean"], np.float64)
    basis = np.asarray(data["basis_orth"], np.float64)
    triangles = data["triangles"]
  v = mean.shape[0]
  return _model(mean, basis, np.broadcast_to(np.asarray(SKIN_RGB), (v, 3)),
                np.zeros((0, v, 3)), triangles)


def _read_bfm2009(path: str) -> FaceModel:
  import scipy.io
  data = scipy.io.loadmat(path)
  _require(data, ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV", "tl"),
           "MATLAB variables")
  mean = _vertices(np.asarray(data["shapeMU"]).reshape(-1))
  albedo_mean = _vertices(np.asarray(data["texMU"]).reshape(-1)) / 255.0
  return _model(mean, _scaled_modes(data["shapePC"], data["shapeEV"]), albedo_mean,
                _scaled_modes(data["texPC"], data["texEV"]) / 255.0,
                np.asarray(data["tl"]) - 1)


def _read_bfm2017(path: str) -> FaceModel:
  import h5py
  with h5py.File(path, "r") as f:
    keys = [f"{part}/model/{name}" for part in ("shape", "color")
            for name in ("mean", "pcaBasis", "pcaVariance")] + ["shape/representer/cells"]
    _require(f, keys, "HDF5 datasets")
    arrays = {k: np.asarray(f[k]) for k in keys}
  cells = arrays["shape/representer/cells"]
  if cells.ndim != 2 or cells.shape[0] != 3:
    raise _LayoutError(f"shape/representer/cells: expected shape (3, T), got {cells.shape}")
  modes = {part: _scaled_modes(arrays[f"{part}/model/pcaBasis"],
                               np.sqrt(arrays[f"{part}/model/pcaVariance"]))
           for part in ("shape", "color")}
  return _model(_vertices(arrays["shape/model/mean"]), modes["shape"],
                _vertices(arrays["color/model/mean"]), modes["color"], cells.T)


_READERS = {".npz": _read_ict, ".mat": _read_bfm2009, ".h5": _read_bfm2017,
            ".hdf5": _read_bfm2017}


def load_face_model(path: str | os.PathLike) -> FaceModel:
  """Reads a morphable face model file into a :class:`FaceModel` (float32, native units).

  ``path``: a .npz (ICT layout), .mat (BFM 2009) or .h5/.hdf5 (BFM 2017); a relative name is
  looked up in the shared data folder if it does not exist as given.
  Raises FileNotFoundError (saying where to get the file) if it is absent, ValueError for an
  unknown extension, or for a corrupt file or one that lacks an array, naming the file.
  """
  path = os.fspath(resolve_data_path(path))
  extension = os.path.splitext(path)[1].lower()
  check_choice("path extension", extension, sorted(_READERS))
  check_file("path", path, _hint(path))
  try:
    return _READERS[extension](path)
  except _LayoutError as error:
    raise ValueError(f"{path}: {error}") from None
  except _READ_ERRORS as error:
    raise ValueError(f"{path}: corrupt or truncated {extension} file "
                     f"({type(error).__name__}: {error})") from error


def face_model_of(dataset: str, data_dir: str = "") -> FaceModel | None:
  """The face model of a face-image dataset: None for "procedural_faces" (the procedural
  model), the ICT model for "ict_faces", read from ``data_dir`` ("" for ../shared/data)."""
  check_choice("dataset", dataset, ("procedural_faces", "ict_faces"))
  if dataset == "procedural_faces":
    return None
  return load_face_model(resolve_data_path(
      os.path.join(data_dir, "face_model_ict.npz") if data_dir else "face_model_ict.npz"))
