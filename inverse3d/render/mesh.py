"""Render a general triangle mesh with per-vertex attributes (e.g. a face model) to images."""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_open_range, check_positive_int,
                              check_range, check_shape)
from inverse3d.render.camera import DEPTH_RANGE, FOV_DEG, check_fov, project
from inverse3d.render.raster import CAPACITY, gather_corners, interpolate, rasterize

MAX_SIZE = 4096
SIZE_HINT = ("the rasteriser lays out capacity * B * height * width pixel tests at once, "
             "fewer than 2**30")


@partial(jax.jit, static_argnames=("height", "width", "capacity"))
def _render_mesh(vertices, triangles, colours, fov_deg, background_depth, height, width,
                 capacity):
  u, v, d = project(vertices, height, width, fov_deg)
  screen = jnp.stack([u, v, d], -1)

  ids = rasterize(screen, triangles, height, width, capacity)
  weights, corner_ids, depth, mask = interpolate(screen, triangles, ids)
  colour = jnp.einsum("bhwk,bhwkc->bhwc", weights, gather_corners(colours, corner_ids))
  return (jnp.where(mask[..., None], colour, 0.0), jnp.where(mask, depth, background_depth),
          mask.astype(colours.dtype))


def render_mesh(vertices, triangles, colours, height: int, width: int, fov_deg=FOV_DEG, *,
                capacity: float = CAPACITY, background_depth: float = DEPTH_RANGE[1]):
  """Rasterises triangle meshes into images, depth maps and masks through the camera.

  Args:
    vertices: (B, V, 3) positions in the viewer frame (x right, y up, z towards the viewer;
      visible points have z < 0, depth = -z).
    triangles: (T, 3) int vertex indices, shared by the batch.
    colours: (B, V, C) per-vertex attributes, interpolated perspective-correctly.
    height, width: output size in pixels, in [2, MAX_SIZE].
    fov_deg: field of view in degrees, in (0, 180).
    capacity: budget of pixel-triangle tests per output pixel (see ``raster``); raise it
      when the triangles' bounding boxes cover more than ``capacity`` times the image.
    background_depth: depth written where no triangle covers the pixel (finite).
  Returns:
    image (B, H, W, C) (0 where uncovered), depth (B, H, W), mask (B, H, W) float in {0, 1}.
  """
  bind = check_shape("vertices", vertices, ("B", "V", 3))
  check_shape("triangles", triangles, (None, 3))
  check_shape("colours", colours, (bind["B"], bind["V"], None))
  for name, x in (("vertices", vertices), ("colours", colours)):
    check_dtype(name, x, "biuf")
    check_finite(name, x)
  if not hasattr(triangles, "dtype"):
    triangles = np.asarray(triangles)
  check_dtype("triangles", triangles, "iu")
  check_range("triangles", triangles, 0, bind["V"] - 1)
  check_fov(fov_deg)
  for name, size in (("height", height), ("width", width)):
    check_positive_int(name, size, minimum=2, maximum=MAX_SIZE, hint=SIZE_HINT)
  check_open_range("capacity", capacity, 0.0, math.inf)
  check_shape("background_depth", background_depth, ())
  check_finite("background_depth", background_depth)
  return _render_mesh(jnp.asarray(vertices), jnp.asarray(triangles, jnp.int32),
                      jnp.asarray(colours), fov_deg, background_depth, height=height,
                      width=width, capacity=capacity)
