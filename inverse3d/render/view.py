"""Viewpoint: a rigid motion given by 3 rotations and 3 translations about a rotation centre.

A view v = [rx, ry, rz, tx, ty, tz] (radians, depth units) moves a point p of the viewer frame
(x right, y up, z towards the viewer) to

    p' = R (p - c) + c + t,   R = Rz(rz) @ Ry(ry) @ Rx(rx),   c = (0, 0, -centre_depth),

i.e. the object turns about the point on the optical axis at the rotation-centre depth (1.0 by
default), first about x, then y, then z (right-handed: a positive angle turns counterclockwise
seen from the axis' positive end), and then shifts by t: tx > 0 moves it right, ty > 0 up,
tz > 0 towards the camera.
"""
from __future__ import annotations

import jax.numpy as jnp

from inverse3d.render.camera import ROTATION_CENTRE_DEPTH


def rotation_matrix(angles):
  """(..., 3) angles [rx, ry, rz] in radians -> (..., 3, 3) matrices Rz @ Ry @ Rx."""
  cx, cy, cz = (jnp.cos(angles[..., i]) for i in range(3))
  sx, sy, sz = (jnp.sin(angles[..., i]) for i in range(3))
  one, zero = jnp.ones_like(cx), jnp.zeros_like(cx)
  rot_x = jnp.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1)
  rot_y = jnp.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1)
  rot_z = jnp.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1)
  shape = angles.shape[:-1] + (3, 3)
  return rot_z.reshape(shape) @ rot_y.reshape(shape) @ rot_x.reshape(shape)


def transform_points(points, view, centre_depth=ROTATION_CENTRE_DEPTH):
  """Applies views (B, 6) to points (B, ..., 3): p' = R (p - c) + c + t (see module doc)."""
  rotation = rotation_matrix(view[:, :3])
  centre = jnp.array([0.0, 0.0, -centre_depth], dtype=points.dtype)
  batch = points.shape[0]
  flat = points.reshape(batch, -1, 3) - centre
  moved = jnp.einsum("bij,bnj->bni", rotation, flat) + centre + view[:, None, 3:6]
  return moved.reshape(points.shape)
