"""Random views and lights for GAN2Shape's pseudo samples (step 2), pure functions of a key.

Lights, relative to the image's own light [ambient a, diffuse b, dx, dy]::

    dx' ~ U(dx_range),  dy' ~ U(dy_range),  r ~ U(strength_range)
    light' = [a + ambient_scale * r,  b + r,  dx',  dy']

GAN2Shape's code: dx in (-1, 1), dy in (-0.2, 0.8), r in (-0.1, 0.6), ambient_scale -0.6 (a
stronger diffuse light comes with a weaker ambient one). Views: each component from a normal
distribution of the given mean and standard deviation (GAN2Shape fits a normal to the view
net's outputs on generator samples), then the yaw (ry, about the vertical axis) times
``yaw_scale`` (1.2 for faces, "enlarge viewpoint variation"). Both come out in the nets'
output convention (``networks.view_output`` / ``light_output``), which is what
``render.render_view`` and ``render.shade`` take; nothing is clipped.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_interval, check_number,
                              check_positive_int, check_range, check_shape)

LIGHT_DX = (-1.0, 1.0)
LIGHT_DY = (-0.2, 0.8)
STRENGTH = (-0.1, 0.6)
AMBIENT_SCALE = -0.6
YAW_SCALE = 1.2


def sample_lights(key, n: int, light, *, dx=LIGHT_DX, dy=LIGHT_DY, strength=STRENGTH,
                  ambient_scale: float = AMBIENT_SCALE):
  """(n, 4) lights [ambient, diffuse, dx, dy] around ``light`` (4,) (module docstring).

  dx, dy, strength: (low, high) uniform ranges, low < high. ambient_scale: any finite number.
  """
  n = check_positive_int("n", n)
  check_shape("light", light, (4,))
  check_dtype("light", light, "iuf")
  check_finite("light", light)
  for name, pair in (("dx", dx), ("dy", dy), ("strength", strength)):
    check_interval(name, pair)
  check_finite("ambient_scale", ambient_scale)
  u = jax.random.uniform(key, (n, 3), jnp.float32)
  low = jnp.array([dx[0], dy[0], strength[0]], jnp.float32)
  high = jnp.array([dx[1], dy[1], strength[1]], jnp.float32)
  dxy_r = low + (high - low) * u
  r = dxy_r[:, 2]
  light = jnp.asarray(light, jnp.float32)
  return jnp.stack([light[0] + ambient_scale * r, light[1] + r, dxy_r[:, 0], dxy_r[:, 1]], 1)


def sample_views(key, n: int, mean, std, *, yaw_scale: float = YAW_SCALE):
  """(n, 6) views [rx, ry, rz radians, tx, ty, tz]: mean (6,) + std (6,) * N(0, 1), the yaw
  ry then times ``yaw_scale`` (module docstring). std >= 0 (0 fixes a component)."""
  n = check_positive_int("n", n)
  for name, x in (("mean", mean), ("std", std)):
    check_shape(name, x, (6,))
    check_dtype(name, x, "iuf")
    check_finite(name, x)
  check_range("std", std, 0.0, np.inf)
  check_number("yaw_scale", yaw_scale)
  normal = jax.random.normal(key, (n, 6), jnp.float32)
  views = jnp.asarray(mean, jnp.float32) + jnp.asarray(std, jnp.float32) * normal
  return views.at[:, 1].multiply(yaw_scale)
