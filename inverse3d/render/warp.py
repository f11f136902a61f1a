"""Render a canonical depth map and image in a new view (the photo-geometric autoencoder's warp).

The depth grid is a triangle mesh (two triangles per pixel quad, vertices at the unprojected
pixel centres). It is moved by the view, rasterised into the new view with a depth test, and
each covered pixel takes the canonical image at the canonical projection of the 3D point it
sees (exact on each planar triangle), resampled bilinearly.
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from inverse3d.checks import (check_choice, check_dtype, check_finite, check_open_range,
                              check_shape)
from inverse3d.render.camera import (DEPTH_RANGE, FOV_DEG, ROTATION_CENTRE_DEPTH,
                                     check_depth_map, check_depth_settings, check_fov,
                                     clamp_depth, project, unproject)
from inverse3d.render.raster import (CAPACITY, gather_corners, grid_triangles, interpolate,
                                     rasterize, soft_mask)
from inverse3d.render.view import transform_points

MASK_MODES = ("hard", "soft")


def bilinear_sample(image, u, v):
  """Samples image (H, W, C) at pixel coordinates u, v (...) -> (..., C).

  Coordinates are clamped to the image (border replication); pixel centres are integers.
  """
  height, width = image.shape[:2]
  u = jnp.clip(u, 0.0, width - 1.0)
  v = jnp.clip(v, 0.0, height - 1.0)
  u0 = jnp.clip(jnp.floor(u), 0, width - 2).astype(jnp.int32)
  v0 = jnp.clip(jnp.floor(v), 0, height - 2).astype(jnp.int32)
  fu = (u - u0)[..., None]
  fv = (v - v0)[..., None]
  top = image[v0, u0] * (1 - fu) + image[v0, u0 + 1] * fu
  bottom = image[v0 + 1, u0] * (1 - fu) + image[v0 + 1, u0 + 1] * fu
  return top * (1 - fv) + bottom * fv


@partial(jax.jit, static_argnames=("capacity", "sigma"))
def _render_view(depth, image, view, fov_deg, low, high, centre_depth, capacity, sigma):
  batch, height, width = depth.shape
  triangles = grid_triangles(height, width)
  canonical = unproject(clamp_depth(depth, (low, high)), fov_deg)           # (B, H, W, 3)
  moved = transform_points(canonical, view, centre_depth)
  u, v, d = project(moved, height, width, fov_deg)
  screen = jnp.stack([u, v, d], -1).reshape(batch, -1, 3)

  ids = rasterize(screen, triangles, height, width, capacity)
  weights, vertices, new_depth, mask = interpolate(screen, triangles, ids)
  corners = gather_corners(canonical.reshape(batch, -1, 3), vertices)      # (B, H, W, 3, 3)
  seen = jnp.einsum("bhwk,bhwkc->bhwc", weights, corners)
  su, sv, _ = project(seen, height, width, fov_deg)
  colour = jax.vmap(bilinear_sample)(image, su, sv)
  colour = jnp.where(mask[..., None], colour, 0.0)
  new_depth = jnp.where(mask, new_depth, high)
  coverage = (mask.astype(image.dtype) if sigma is None
              else soft_mask(screen, triangles, ids, sigma))
  return colour, new_depth, coverage


def render_view(depth, image, view, fov_deg=FOV_DEG, *, mask: str = "hard",
                soft_sigma: float = 0.5, capacity: float = CAPACITY, depth_range=DEPTH_RANGE,
                centre_depth: float = ROTATION_CENTRE_DEPTH):
  """Renders the canonical depth map and image from a new viewpoint.

  Args:
    depth: (B, H, W) canonical depth, H, W >= 2; clamped into ``depth_range`` first.
    image: (B, H, W, C) canonical image (e.g. the shaded albedo; any finite values).
    view: (B, 6) = [rx, ry, rz in radians, tx, ty, tz in depth units] (see ``view``): the
      surface turns about the point at ``centre_depth`` on the optical axis, then shifts.
    fov_deg: field of view in degrees, in (0, 180).
    mask: "hard" for a {0, 1} coverage mask, "soft" for a mask that also has values (and
      gradients w.r.t. depth and view) on uncovered pixels near the silhouette.
    soft_sigma: width of the soft mask's fall-off outside the silhouette, in pixels.
    capacity: budget of pixel-triangle tests per output pixel (see ``raster``; static): the
      default draws every triangle unless the new view stretches the mesh a lot.
    depth_range: (low, high) clamp limits of the canonical depth, finite,
      camera.NEAR <= low < high.
    centre_depth: depth of the rotation centre (finite).
  Returns:
    image: (B, H, W, C) the canonical image as seen in the new view, 0 where uncovered.
    depth: (B, H, W) depth of the surface in the new view; ``depth_range[1]`` where uncovered
      (not clamped where covered: the new view may bring points nearer or farther).
    mask: (B, H, W) float, 1 where the surface covers the pixel centre ("hard"), or the soft
      mask ("soft"; equal to the hard mask on covered pixels).
  The identity view returns the inputs (up to rounding) with a mask of ones.
  """
  bind = check_depth_map(depth)
  check_shape("image", image, (bind["B"], bind["H"], bind["W"], None))
  check_shape("view", view, (bind["B"], 6))
  for name, x in (("image", image), ("view", view)):
    check_dtype(name, x, "biuf")
    check_finite(name, x)
  check_fov(fov_deg)
  check_depth_settings(depth_range, centre_depth)
  check_choice("mask", mask, MASK_MODES)
  check_open_range("capacity", capacity, 0.0, math.inf)
  check_open_range("soft_sigma", soft_sigma, 0.0, math.inf)
  return _render_view(jnp.asarray(depth), jnp.asarray(image), jnp.asarray(view), fov_deg,
                      depth_range[0], depth_range[1], centre_depth, capacity=capacity,
                      sigma=soft_sigma if mask == "soft" else None)
