"""Depth metrics of Unsup3d's protocol (also GAN2Shape's): SIDE and MAD per image.

For predicted and true depth maps d, g (B, H, W) and a foreground mask (B, H, W)::

    m      = erode(mask > 0.5)       3x3 minimum; pixels outside the image count as background
    e      = log d - log g
    SIDE_b = sqrt( mean_m (e - mean_m e)^2 )                     scale-invariant depth error
    MAD_b  = mean_m angle(n(d), n(g))  in degrees,  n = render.depth_to_normals

Unsup3d erodes the ground truth's mask and the prediction's reprojected mask by one pixel each
(``avg_pool 3x3 > 0.99`` on binary masks, zero padding) and compares where both hold; eroding
their product is the same, so callers pass that product (or the ground truth's mask alone) as
``mask``. The erosion keeps the normals' central differences off the background.

Depths are used as given (the normals are computed without the renderer's clamp). SIDE and MAD
are invariant to a common scale of both depths, not to other rescalings: the protocol compares
depths in the camera's range ``render.DEPTH_RANGE`` ([0.9, 1.1]; Unsup3d rescales its ground
truth into it, ``data.face_images`` returns it there, the photo-geometric nets predict there),
and callers pass depths in that range. The angle is atan2(|n x n'|, n . n'), the arccos of
Unsup3d's clamped dot product, accurate near zero in float32.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_open_range, check_per_sample,
                              check_shape)
from inverse3d.render.camera import FOV_DEG, NEAR, check_fov
from inverse3d.render.normals import depth_to_normals

# depth_to_normals clamps depth into a range; this one leaves every positive depth as it is.
UNCLAMPED = (NEAR, 1e30)


def erode(mask, xp=jnp):
  """Binary masks (B, H, W) -> the pixels whose 3x3 neighbourhood lies wholly in the mask
  (outside the image counts as background). ``xp``: jax.numpy, or numpy for host checks."""
  height, width = mask.shape[1:]
  padded = xp.pad(mask, ((0, 0), (1, 1), (1, 1)))
  shifted = [padded[:, i:i + height, j:j + width] for i in range(3) for j in range(3)]
  return functools.reduce(xp.logical_and, shifted)


def _check(depth, gt_depth, mask) -> None:
  """Shapes (B, H, W) alike, B >= 1, H, W >= 3; depths finite and > 0; the eroded mask not
  empty in any image (value checks per ``inverse3d.checks``)."""
  bind = check_shape("depth", depth, ("B", "H", "W"))
  if min(bind.values()) < 1 or bind["H"] < 3 or bind["W"] < 3:
    raise ValueError(f"depth: expected (B, H, W) with B >= 1, H, W >= 3, got "
                     f"{tuple(np.shape(depth))}")
  check_shape("gt_depth", gt_depth, tuple(np.shape(depth)))
  check_shape("mask", mask, tuple(np.shape(depth)))
  for name, x in (("depth", depth), ("gt_depth", gt_depth)):
    check_dtype(name, x, "iuf")
    check_finite(name, x)
    check_open_range(name, x, 0.0, np.inf)
  check_dtype("mask", mask, "biuf")
  check_finite("mask", mask)
  check_per_sample("mask", mask, lambda m: erode(m > 0.5, np).any((1, 2)),
                   "a pixel left in every image after the one-pixel erosion")


@jax.jit
def _side(depth, gt_depth, mask):
  m = erode(mask > 0.5).astype(jnp.float32)
  count = jnp.sum(m, (1, 2))
  error = jnp.log(depth.astype(jnp.float32)) - jnp.log(gt_depth.astype(jnp.float32))
  mean = jnp.sum(error * m, (1, 2)) / count
  return jnp.sqrt(jnp.sum(jnp.square(error - mean[:, None, None]) * m, (1, 2)) / count)


@jax.jit
def _angles(normals, gt_normals, mask):
  m = erode(mask > 0.5).astype(jnp.float32)
  sine = jnp.linalg.norm(jnp.cross(normals, gt_normals), axis=-1)
  cosine = jnp.sum(normals * gt_normals, -1)
  angle = jnp.rad2deg(jnp.arctan2(sine, cosine))
  return jnp.sum(angle * m, (1, 2)) / jnp.sum(m, (1, 2))


def side(depth, gt_depth, mask) -> jax.Array:
  """Scale-invariant depth error per image (module docstring).

  Args:
    depth, gt_depth: (B, H, W) predicted and true depth, > 0, H, W >= 3, in the camera's
      depth range (module docstring).
    mask: (B, H, W) foreground (> 0.5), eroded by one pixel here; no image may be left empty.
  Returns:
    (B,) float32 SIDE (a log-depth standard deviation; Unsup3d reports it times 100).
  """
  _check(depth, gt_depth, mask)
  return _side(jnp.asarray(depth), jnp.asarray(gt_depth), jnp.asarray(mask))


def mad(depth, gt_depth, mask, fov_deg=FOV_DEG) -> jax.Array:
  """Mean angle between the normals of predicted and of true depth, degrees, per image.

  Args: as :func:`side`; fov_deg: the camera's field of view (degrees) the normals assume.
  Returns:
    (B,) float32 MAD in degrees.
  """
  _check(depth, gt_depth, mask)
  check_fov(fov_deg)
  normals = depth_to_normals(depth, fov_deg, UNCLAMPED)
  gt_normals = depth_to_normals(gt_depth, fov_deg, UNCLAMPED)
  return _angles(normals, gt_normals, jnp.asarray(mask))


def mean_std(scores) -> tuple[float, float]:
  """(mean, standard deviation) over images of per-image scores (B,), B >= 1, as floats
  (the population standard deviation, NumPy's default)."""
  check_shape("scores", scores, ("B",))
  values = np.asarray(scores, np.float64)
  if values.size == 0 or not np.all(np.isfinite(values)):
    raise ValueError(f"scores: expected one or more finite values, got {values[:8].tolist()}")
  return float(values.mean()), float(values.std())
