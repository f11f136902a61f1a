"""Perspective camera: pixel grid, depth to 3D points and back.

Frame ("viewer frame", right-handed, the OBJ / OpenGL eye convention): x to the right, y up,
z towards the viewer; the camera sits at the origin and looks down -z. A pixel at row v,
column u with depth d (distance along the optical axis) is the point

    X = d (u - cx) / f,   Y = -d (v - cy) / f,   Z = -d,

with pixel centres at integer (u, v), principal point cx = (W - 1) / 2, cy = (H - 1) / 2 and
focal length f = cx / tan(fov / 2): the field of view spans the first to the last pixel centre
of a row (the Unsup3d convention). Reference constants from Unsup3d / GAN2Shape: fov 10 degrees,
depth range [0.9, 1.1], rotation centre at depth 1.0.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_interval, check_open_range,
                              check_shape)

FOV_DEG = 10.0
DEPTH_RANGE = (0.9, 1.1)
ROTATION_CENTRE_DEPTH = 1.0
# Points nearer than this to the camera plane are not projected (their triangles are dropped).
NEAR = 1e-3


def check_fov(fov_deg) -> None:
  """Raises unless the field of view (degrees) is a real scalar in the open interval (0, 180)
  (the interval is a value check: see ``inverse3d.checks``)."""
  check_shape("fov_deg", fov_deg, ())
  check_dtype("fov_deg", fov_deg, "iuf")
  check_open_range("fov_deg", fov_deg, 0.0, 180.0)


def check_depth_settings(depth_range, centre_depth=ROTATION_CENTRE_DEPTH) -> None:
  """Raises unless ``depth_range`` is finite (low, high) with NEAR <= low < high (nearer points
  are not projected) and ``centre_depth`` a finite scalar (values checked as in
  ``inverse3d.checks``)."""
  check_interval("depth_range", depth_range, NEAR, np.inf)
  check_shape("centre_depth", centre_depth, ())
  check_dtype("centre_depth", centre_depth, "iuf")
  check_finite("centre_depth", centre_depth)


def check_depth_map(depth, batched: bool = True) -> dict:
  """Checks a finite real depth map (B, H, W) (or (H, W) when not ``batched``), H, W >= 2.

  Returns the shape bindings {"B", "H", "W"}. Values outside the depth range are allowed
  (the renderer clamps them).
  """
  bind = check_shape("depth", depth, ("B", "H", "W") if batched else ("H", "W"))
  if bind["H"] < 2 or bind["W"] < 2:
    raise ValueError(f"depth: expected H, W >= 2, got shape {tuple(np.shape(depth))}")
  check_dtype("depth", depth, "iuf")
  check_finite("depth", depth)
  return bind


def focal_length(width: int, fov_deg=FOV_DEG):
  """Focal length in pixels for an image ``width`` pixels wide (the fov spans its pixel centres)."""
  return 0.5 * (width - 1) / jnp.tan(jnp.deg2rad(fov_deg) / 2)


def clamp_depth(depth, depth_range=DEPTH_RANGE):
  """Clamps depth into ``depth_range`` (values outside are moved to the nearest limit)."""
  return jnp.clip(depth, depth_range[0], depth_range[1])


def pixel_grid(height: int, width: int):
  """Pixel-centre coordinates: (u, v) each (H, W), u the column index and v the row index."""
  v, u = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                      jnp.arange(width, dtype=jnp.float32), indexing="ij")
  return u, v


def unproject(depth, fov_deg=FOV_DEG):
  """Depth (..., H, W) -> 3D points (..., H, W, 3) in the viewer frame (no clamping here)."""
  height, width = depth.shape[-2:]
  f = focal_length(width, fov_deg)
  u, v = pixel_grid(height, width)
  u = u.astype(depth.dtype)
  v = v.astype(depth.dtype)
  x = depth * (u - 0.5 * (width - 1)) / f
  y = -depth * (v - 0.5 * (height - 1)) / f
  return jnp.stack([x, y, -depth], axis=-1)


def project(points, height: int, width: int, fov_deg=FOV_DEG):
  """3D points (..., 3) -> (u, v, d) each (...): pixel column, pixel row, depth (= -z).

  Points with depth below ``NEAR`` are projected as if at depth ``NEAR`` (finite values and
  gradients); callers drop them using the returned depth.
  """
  f = focal_length(width, fov_deg)
  d = -points[..., 2]
  safe = jnp.maximum(d, NEAR)
  u = 0.5 * (width - 1) + f * points[..., 0] / safe
  v = 0.5 * (height - 1) - f * points[..., 1] / safe
  return u, v, d
