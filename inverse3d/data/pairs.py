"""Paired (images, shape) datasets for the representation-mapping experiments.

Every dataset comes out in one layout, whatever its source::

    {"train": {"images": (N, A, S, S) float32 in [0, 1],   # A views of each shape
               "shapes": (N, D) float32,                    # flattened shape vectors
               "labels": (N,) int32},                       # class (objects) or 0 (faces)
     "test": {...},
     "kind": "points" | "voxels",
     "shape_shape": (V, 3) | (30, 30, 30),                   # to unflatten a shape vector
     "view_angles": (A,) degrees,
     "triangles": (T, 3) int32 | None}                      # face topology, for figures

Faces are point clouds normalised to [0, 1] per axis (the paper), seen at yaw -45, 0, 45;
objects are 30^3 occupancy grids seen from 8 angles about the vertical axis.
"""
from __future__ import annotations

import os

import jax
import numpy as np

from inverse3d.checks import check_choice, check_positive_int
from inverse3d.data.face_model import procedural_face_model, sample_faces
from inverse3d.data.face_readers import load_face_model
from inverse3d.data.modelnet import load_modelnet10
from inverse3d.data.objects import procedural_objects
from inverse3d.data.paths import resolve_data_path
from inverse3d.data.views import (FACE_YAWS, OBJECT_VIEW_ANGLES, render_face_views,
                                  render_voxel_views)

PAIRED_DATASETS = ("procedural_faces", "procedural_objects", "modelnet10", "ict_faces")


def _face_split(key, model, n, image_size):
  faces = sample_faces(key, model, n)
  gray = faces["albedo"].mean(-1)
  images = render_face_views(faces["points"], gray, FACE_YAWS, size=image_size,
                             triangles=model.triangles)
  return {"images": np.asarray(images, np.float32),
          "shapes": np.asarray(faces["points"], np.float32).reshape(n, -1),
          "labels": np.zeros((n,), np.int32)}


def _object_split(voxels, labels, image_size):
  images = render_voxel_views(voxels, OBJECT_VIEW_ANGLES, size=image_size)
  return {"images": np.asarray(images, np.float32),
          "shapes": np.asarray(voxels, np.float32).reshape(len(voxels), -1),
          "labels": np.asarray(labels, np.int32)}


def _subsample(key, split: dict, n: int) -> dict:
  """At most ``n`` rows of every array in ``split``, chosen at random, kept in order."""
  total = len(split["labels"])
  if n >= total:
    return split
  rows = np.sort(np.asarray(jax.random.choice(key, total, (n,), replace=False)))
  return {name: array[rows] for name, array in split.items()}


def make_paired_dataset(name: str, key, n_train: int, n_test: int, image_size: int = 32,
                        face_vertices: int = 4000, face_modes: int = 40,
                        data_dir: str | os.PathLike | None = None) -> dict:
  """Builds dataset ``name`` (one of PAIRED_DATASETS) in the layout of this module's docstring.

  n_train / n_test: samples drawn for the generated sets; ModelNet10 keeps its official split,
  subsampled (without replacement, from ``key``) where a split is larger than asked. data_dir: where real files live (default ../shared/data).
  """
  check_choice("name", name, PAIRED_DATASETS)
  check_positive_int("n_train", n_train)
  check_positive_int("n_test", n_test)
  key_train, key_test = jax.random.split(key)

  def real(filename):
    return resolve_data_path(os.path.join(data_dir, filename) if data_dir else filename)

  if name in ("procedural_faces", "ict_faces"):
    model = (procedural_face_model(face_vertices, face_modes) if name == "procedural_faces"
             else load_face_model(real("face_model_ict.npz")))
    return {"train": _face_split(key_train, model, n_train, image_size),
            "test": _face_split(key_test, model, n_test, image_size),
            "kind": "points", "shape_shape": tuple(model.mean.shape),
            "view_angles": np.asarray(FACE_YAWS, np.float32),
            "triangles": np.asarray(model.triangles)}

  if name == "procedural_objects":
    splits = {split: procedural_objects(k, n)
              for split, k, n in (("train", key_train, n_train), ("test", key_test, n_test))}
  else:
    modelnet = load_modelnet10(real("modelnet10_vox30.npz"))
    splits = {split: _subsample(k, modelnet[split], n)
              for split, k, n in (("train", key_train, n_train), ("test", key_test, n_test))}
  return {split: _object_split(splits[split]["voxels"], splits[split]["labels"], image_size)
          for split in ("train", "test")} | {
              "kind": "voxels", "shape_shape": (30, 30, 30),
              "view_angles": np.asarray(OBJECT_VIEW_ANGLES, np.float32), "triangles": None}
