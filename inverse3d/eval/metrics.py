"""Metrics comparing predicted and ground-truth shapes, batch-first, jit-able.

RMSE (the paper's eq. 12) is read per element: over a set of N samples with D elements each,

    rmse = sqrt( sum_i |x_hat_i - x_i|^2 / (N * D) ),

one root over the whole set (not a mean of per-sample roots). Eq. 12 as printed divides by N
only, which equals this value times sqrt(D); per element keeps voxel grids and point clouds of
any size on the scale of one coordinate or one occupancy value.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_binary, check_finite, check_min_size, check_shape


def _float_pair(pred, target, layout) -> tuple[jax.Array, jax.Array]:
  """Checks pred and target against ``layout`` (a check_shape spec) and each other; returns
  them as float arrays."""
  check_shape("pred", pred, layout)
  check_shape("target", target, np.shape(pred))
  check_min_size("pred", pred, 1)
  check_finite("pred", pred)
  check_finite("target", target)
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  dtype = jnp.promote_types(jnp.promote_types(pred.dtype, target.dtype), jnp.float32)
  return pred.astype(dtype), target.astype(dtype)


def _batch_layout(x, min_ndim: int) -> tuple:
  """check_shape spec (N, any...) for x, with at least ``min_ndim`` axes."""
  return ("N",) + (None,) * (max(np.ndim(x), min_ndim) - 1)


def rmse(pred, target) -> jax.Array:
  """Root mean squared error over every element of the set (eq. 12 per element, see above).

  pred, target: (N, ...) of equal shape, N >= 1, e.g. voxels (N, 30, 30, 30) or points (N, V, 3).
  Returns a float scalar.
  """
  pred, target = _float_pair(pred, target, _batch_layout(pred, 1))
  return jnp.sqrt(jnp.mean(jnp.square(pred - target)))


def iou(pred, target, threshold: float = 0.5) -> jax.Array:
  """Per-sample intersection over union of occupied voxels.

  pred: (N, ...) real-valued occupancy, occupied where pred > threshold. target: binary, same
  shape (e.g. (N, 30, 30, 30)). Returns (N,) in [0, 1]; a sample empty in both counts as 1.
  """
  given = target  # checked as given: a NumPy target has its values checked (inverse3d.checks)
  pred, target = _float_pair(pred, target, _batch_layout(pred, 2))
  check_binary("target", given)
  axes = tuple(range(1, pred.ndim))
  occupied, truth = pred > threshold, target > 0.5
  intersection = jnp.sum(occupied & truth, axis=axes)
  union = jnp.sum(occupied | truth, axis=axes)
  return jnp.where(union > 0, intersection / jnp.maximum(union, 1), 1.0).astype(pred.dtype)


def per_vertex_error(pred, target) -> jax.Array:
  """Euclidean distance between corresponding vertices: (N, V, 3) pairs -> (N, V).

  Average over N for a per-vertex error heat map, or over both axes for one number.
  """
  pred, target = _float_pair(pred, target, ("N", "V", 3))
  return jnp.linalg.norm(pred - target, axis=-1)


def best_iou_threshold(pred, target, candidates) -> float:
  """The candidate occupancy threshold with the highest mean :func:`iou` of ``pred`` against
  ``target`` (ties: the first); pass validation data, never test data.

  pred (N, ...) real-valued, target binary of the same shape, candidates (T,) thresholds.
  """
  candidates = np.asarray(candidates, np.float64)
  check_shape("candidates", candidates, ("T",))
  check_min_size("candidates", candidates, 1)
  check_binary("target", target)  # once: as a jax array below, iou does not read it again
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  means = [float(jnp.mean(iou(pred, target, t))) for t in candidates]
  return float(candidates[int(np.argmax(means))])
