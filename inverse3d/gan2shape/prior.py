"""The weak shape prior of GAN2Shape's step 1: a spherical cap placed on the object's mask.

The bounding box of the mask's pixels >= ``threshold`` (rows top..bottom, columns
left..right, pixel indices) has its top raised by ``raise_top`` of its height (faces: the
forehead the parsing mask misses). Over the box's inscribed ellipse, with normalised radius
rho = |((u - cx) / a, (v - cy) / b)| (centre (cx, cy), half sizes a, b of the raised box), the
depth is a cap of a sphere of radius ``radius`` (depth units) whose base, scaled to the
ellipse, sits at ``far`` and whose top, at the centre, at ``near``::

    depth = near + radius - sqrt(radius^2 - (rho * base)^2),
    base  = sqrt(radius^2 - (radius - (far - near))^2)            (the cap's base radius)

and ``far`` outside the ellipse. GAN2Shape's values: threshold 0.7, near 0.91, far 1.02,
radius 0.4; the top raised by h/6 for synthetic faces. (Its code stretches the ellipse about
the image's middle row; here it is centred on the box.)
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_number, check_open_range,
                              check_per_sample, check_shape)

NEAR, FAR = 0.91, 1.02
RADIUS = 0.4
MASK_THRESHOLD = 0.7
FACE_RAISE = 1.0 / 6.0


def _first(flags):
  """Index of the first True along the last axis of (B, N) bools (N when none)."""
  n = flags.shape[-1]
  return jnp.min(jnp.where(flags, jnp.arange(n), n), axis=-1)


def mask_box(mask, threshold: float = MASK_THRESHOLD):
  """(top, bottom, left, right), each (B,) float32: the first and last rows and columns of
  the pixels of ``mask`` (B, H, W) that are >= ``threshold``."""
  inside = mask >= threshold
  rows, cols = jnp.any(inside, axis=2), jnp.any(inside, axis=1)
  height, width = mask.shape[1:]
  box = (_first(rows), height - 1 - _first(rows[:, ::-1]),
         _first(cols), width - 1 - _first(cols[:, ::-1]))
  return tuple(b.astype(jnp.float32) for b in box)


def _check(mask, near, far, raise_top, threshold, radius) -> None:
  check_shape("mask", mask, ("B", "H", "W"))
  check_dtype("mask", mask, "biuf")
  check_finite("mask", mask)
  for name, value in (("near", near), ("far", far), ("radius", radius)):
    check_number(name, value, positive=True)
  if not near < far <= near + radius:
    raise ValueError(f"near, far: expected near < far <= near + radius ({radius}), got "
                     f"near {near}, far {far}")
  check_number("raise_top", raise_top)
  check_open_range("threshold", threshold, 0.0, 1.0)
  check_per_sample("mask", mask, lambda m: np.any(m >= threshold, axis=(1, 2)),
                   f"a foreground pixel (>= {threshold}) in every image")
  check_per_sample("mask", mask, lambda m: np.any(m < threshold, axis=(1, 2)),
                   f"a background pixel (< {threshold}) in every image")
  spans = lambda m, axis: np.sum(np.any(m >= threshold, axis=axis), axis=1)  # rows, columns
  check_per_sample("mask", mask, lambda m: (spans(m, 2) >= 2) & (spans(m, 1) >= 2),
                   f"a foreground (>= {threshold}) at least 2 pixels tall and wide in every "
                   f"image")


def ellipsoid_depth(mask, near: float = NEAR, far: float = FAR, raise_top: float = FACE_RAISE,
                    threshold: float = MASK_THRESHOLD, radius: float = RADIUS):
  """The prior depth (B, H, W) of masks (B, H, W) (module docstring).

  Args:
    mask: (B, H, W) object masks (values compared with ``threshold``); each image needs
      foreground at least 2 pixels tall and wide, and some background.
    near, far: depth at the cap's centre and at its rim and outside, 0 < near < far <=
      near + radius. raise_top: fraction of the box height added above it (>= 0).
    threshold: foreground where mask >= threshold, in (0, 1). radius: the sphere's radius.
  Returns:
    (B, H, W) float32 depth, ``near`` at the raised box's centre, ``far`` outside its ellipse.
  """
  _check(mask, near, far, raise_top, threshold, radius)
  top, bottom, left, right = mask_box(jnp.asarray(mask), threshold)
  top = top - raise_top * (bottom - top)
  cy, cx = (top + bottom) / 2, (left + right) / 2
  b, a = (bottom - top) / 2, (right - left) / 2
  height, width = np.shape(mask)[1:]
  v, u = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                      jnp.arange(width, dtype=jnp.float32), indexing="ij")
  rho = jnp.sqrt(((u - cx[:, None, None]) / a[:, None, None]) ** 2
                 + ((v - cy[:, None, None]) / b[:, None, None]) ** 2)
  base = np.sqrt(radius ** 2 - (radius - (far - near)) ** 2)
  cap = near + radius - jnp.sqrt(jnp.maximum(radius ** 2 - (rho * base) ** 2, 0.0))
  return jnp.where(rho <= 1.0, cap, far).astype(jnp.float32)
