"""Lambertian shading with an ambient term: albedo * (ambient + diffuse * max(0, n . l))."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from inverse3d.checks import check_dtype, check_finite, check_range, check_shape
from inverse3d.render.normals import normalize


def light_direction(dxy):
  """(..., 2) light offsets (dx, dy) -> (..., 3) unit direction normalise(dx, dy, 1).

  In the viewer frame (x right, y up, z towards the viewer): (0, 0) is a head-on light,
  dx > 0 lights from the right, dy > 0 from above.
  """
  ones = jnp.ones_like(dxy[..., :1])
  return normalize(jnp.concatenate([dxy, ones], axis=-1))


@jax.jit
def _shade(normals, albedo, light):
  direction = light_direction(light[:, 2:4])
  cosine = jnp.einsum("bhwk,bk->bhw", normals, direction)
  level = light[:, 0, None, None] + light[:, 1, None, None] * jnp.maximum(cosine, 0.0)
  return albedo * level[..., None]


def shade(normals, albedo, light):
  """Shaded image albedo * (ambient + diffuse * max(0, n . l)).

  Args:
    normals: (B, H, W, 3) unit normals in the viewer frame (as from ``depth_to_normals``).
    albedo: (B, H, W, C) reflectance in [0, 1] (any number of channels C).
    light: (B, 4) = [ambient, diffuse, dx, dy]; the light direction is normalise(dx, dy, 1).
  Returns:
    (B, H, W, C) image. It is not clipped: ambient + diffuse > 1 can exceed 1.
  """
  bind = check_shape("normals", normals, ("B", "H", "W", 3))
  check_shape("albedo", albedo, (bind["B"], bind["H"], bind["W"], None))
  check_shape("light", light, (bind["B"], 4))
  for name, x in (("normals", normals), ("albedo", albedo), ("light", light)):
    check_dtype(name, x, "biuf")
    check_finite(name, x)
  check_range("albedo", albedo, 0.0, 1.0)
  return _shade(jnp.asarray(normals), jnp.asarray(albedo), jnp.asarray(light))
