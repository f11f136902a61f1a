"""Surface normals of a depth map, and a normalisation safe for zero vectors."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from inverse3d.render.camera import (DEPTH_RANGE, FOV_DEG, check_depth_map, check_depth_settings,
                                     check_fov, clamp_depth, unproject)

# Squared norms below this are treated as this (keeps 1/|n| and its gradient finite).
_TINY = 1e-20


def normalize(x, axis: int = -1):
  """x / |x| along ``axis``; a zero vector stays zero, with finite gradients."""
  sq = jnp.sum(x * x, axis=axis, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sq, _TINY))


@jax.jit
def _normals(depth, fov_deg, low, high):
  points = unproject(clamp_depth(depth, (low, high)), fov_deg)
  # Edge padding turns the central difference into a one-sided one at the image border.
  p = jnp.pad(points, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
  du = p[:, 1:-1, 2:] - p[:, 1:-1, :-2]   # along +u (columns, to the right)
  dv = p[:, 2:, 1:-1] - p[:, :-2, 1:-1]   # along +v (rows, downwards)
  return normalize(jnp.cross(dv, du))


def depth_to_normals(depth, fov_deg=FOV_DEG, depth_range=DEPTH_RANGE):
  """Unit surface normals of a depth map, facing the camera.

  The depth map is clamped into ``depth_range``, unprojected through the perspective camera
  (see ``camera``) and the normal at each pixel is the normalised cross product of the central
  differences of the 3D points along the rows and the columns (one-sided at the border). A
  fronto-parallel plane gives (0, 0, 1); the normals are in the viewer frame (x right, y up,
  z towards the viewer), so any plane has its exact normal everywhere.

  Args:
    depth: (B, H, W) depth along the optical axis, H, W >= 2.
    fov_deg: field of view in degrees, in (0, 180).
    depth_range: (low, high) clamp limits, finite, camera.NEAR <= low < high.
  Returns:
    (B, H, W, 3) unit normals.
  """
  check_depth_map(depth)
  check_fov(fov_deg)
  check_depth_settings(depth_range)
  return _normals(jnp.asarray(depth), fov_deg, depth_range[0], depth_range[1])
