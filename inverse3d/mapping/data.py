"""Data for the deep mapping job: paired datasets turned into the training loop's arrays.

A paired dataset (:func:`inverse3d.data.pairs.make_paired_dataset`) holds N shapes, each seen
in A views: images (N, A, S, S), shapes (N, D). The models read single images (N, H, W, C), so
every (view, shape) is one training pair; ``views_per_shape`` random views per shape keep the
repeated shape rows within memory for 27000-voxel grids.
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np

from inverse3d.checks import check_finite, check_positive_int
from inverse3d.files import atomic_write
from inverse3d.mapping.framework import resize_images


def resolve_shape_shape(config_shape, dims, path: str = "config.model.shape_shape") -> tuple:
  """The config's per-sample shape with None entries (e.g. the vertex count) taken from the
  dataset's ``dims``; raises naming ``path`` when a given entry disagrees."""
  config_shape, dims = tuple(config_shape), tuple(dims)
  if len(config_shape) != len(dims) or any(c is not None and c != d
                                           for c, d in zip(config_shape, dims)):
    raise ValueError(f"{path}: expected a shape matching the dataset's {dims} (None entries are "
                     f"filled in), got {config_shape}")
  return dims


def model_images(images, image_shape) -> np.ndarray:
  """Gray views (n, S, S) in [0, 1] -> model inputs (n, *image_shape) float32: resized
  (bilinear) when image_shape's (H, W) differ, gray repeated over image_shape's channels."""
  h, w, c = image_shape
  x = np.asarray(images, np.float32)[..., None]
  x = np.asarray(resize_images(x, (h, w, 1)))
  return np.clip(np.repeat(x, c, axis=-1), 0.0, 1.0)


def training_pairs(key, n_shapes: int, n_views: int, views_per_shape: int) -> tuple:
  """(shape index (M,), view index (M,)) of ``views_per_shape`` distinct random views of each
  shape, M = n_shapes * views_per_shape, ordered by shape."""
  check_positive_int("config.data.views_per_shape", views_per_shape, maximum=n_views)
  keys = jax.random.split(key, n_shapes)
  views = np.stack([np.asarray(jax.random.permutation(k, n_views))[:views_per_shape]
                    for k in keys]) if views_per_shape < n_views else np.tile(
                        np.arange(n_views), (n_shapes, 1))
  return np.repeat(np.arange(n_shapes), views_per_shape), np.sort(views, axis=1).reshape(-1)


def image_rows(split: dict, pairs: tuple | None = None) -> tuple:
  """Flat image rows (M, S*S) and the shape row of each (M,): the given ``pairs`` (shape index,
  view index) of ``split["images"]`` (N, A, S, S), or every view of every shape, shape-major
  (row n * A + a is view a of shape n)."""
  images = split["images"]
  if pairs is None:
    n, views = images.shape[:2]
    return images.reshape(n * views, -1), np.repeat(np.arange(n), views)
  shape_index, view_index = pairs
  return images[shape_index, view_index].reshape(len(shape_index), -1), shape_index


def validation_rows(key, labels, fraction: float) -> np.ndarray:
  """Sorted rows (M,) of a validation split held out of a training split: a random
  ``round(fraction * n_c)`` of the n_c rows of each class in ``labels`` (N,), at least 1 and at
  most n_c - 1, so that every class keeps a row outside it."""
  labels = np.asarray(labels)
  if not 0 < fraction < 1:
    raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
  order = np.asarray(jax.random.permutation(key, len(labels)))
  ordered = labels[order]
  classes, counts = np.unique(labels, return_counts=True)
  held = np.minimum(np.maximum(np.round(fraction * counts), 1), counts - 1)
  rank = np.empty(len(labels), np.int64)  # position of each row among its class, in ``order``
  for c in classes:
    rank[ordered == c] = np.arange(np.count_nonzero(ordered == c))
  keep = rank < held[np.searchsorted(classes, ordered)]
  return np.sort(order[keep])


def loop_data(dataset: dict, pairs: tuple, image_shape, shape_shape, n_val: int) -> dict:
  """The training loop's arrays: "images" (M, *image_shape) with "shapes" (M, *shape_shape)
  paired row by row (the ``pairs`` of :func:`training_pairs`), and "test_images"/"test_shapes"
  from the middle view of the first ``n_val`` test shapes (the validation curve)."""
  train, test = dataset["train"], dataset["test"]
  shape_index, view_index = pairs
  n_val = min(check_positive_int("config.data.n_val", n_val), len(test["shapes"]))
  middle = test["images"].shape[1] // 2
  return {"images": model_images(train["images"][shape_index, view_index], image_shape),
          "shapes": train["shapes"][shape_index].reshape(-1, *shape_shape),
          "test_images": model_images(test["images"][:n_val, middle], image_shape),
          "test_shapes": test["shapes"][:n_val].reshape(-1, *shape_shape)}


def check_dataset(name: str, dataset: dict) -> None:
  """Raises naming ``name``, the split and the array when a paired dataset holds NaN or inf:
  the job's data boundary, checked once before anything is fitted or trained."""
  for split in ("train", "test"):
    for field in ("images", "shapes"):
      check_finite(f"{name} {split} {field}", dataset[split][field])


def guard_data_config(workdir: str, data_config, write: bool = True) -> None:
  """Records ``data_config`` in ``workdir/data.json``; refuses a workdir written with another
  (a resumed run must train on the same pairs)."""
  path = os.path.join(workdir, "data.json")
  current = json.loads(json.dumps(data_config.to_dict(), sort_keys=True))
  if os.path.exists(path):
    with open(path) as f:
      found = json.load(f)
    differing = sorted(k for k in set(found) | set(current) if found.get(k) != current.get(k))
    if differing:
      raise ValueError(
          f"workdir {workdir}: expected config.data as recorded in {path}, got different "
          + "; ".join(f"{k}: {found.get(k)!r} there, {current.get(k)!r} now" for k in differing)
          + ". Use a new workdir, or the old data config to resume.")
    return
  if not write:  # another process of the run writes it
    return
  os.makedirs(workdir, exist_ok=True)
  with atomic_write(path, "w") as f:
    json.dump(current, f, indent=2, sort_keys=True)
