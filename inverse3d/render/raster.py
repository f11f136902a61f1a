"""Triangle rasteriser in plain JAX (runs on CPU, GPU and TPU): z-buffer, barycentrics, soft mask.

Triangles are given by their vertices in screen space, ``screen`` (V, 3) = [u, v, d]: pixel
column, pixel row (pixel centres at integers) and depth along the optical axis. A pixel is
covered by a triangle when its centre lies inside the projected triangle (edges included);
among the covering triangles the nearest one at that pixel wins (z-buffer). Both orientations
are drawn (no back-face culling). Triangles with a vertex nearer than ``camera.NEAR`` or with
(almost) zero screen area are dropped.

Cost: every triangle tests the ``window`` x ``window`` pixel centres from the lower corner of
its bounding box and scatters its depth there with a min (``.at[].min``), then scatters its
index where it won, so the cost is linear in the number of triangles (hence in pixels, for a
depth-map mesh) and independent of the hardware. The price: a triangle whose bounding box
holds pixel centres beyond its window (wider or taller than ``window - 1`` to ``window``
pixels) is not drawn at all. A depth-map mesh seen from a new view has triangles of about a
pixel, stretched by the depth slope and the turn; what gets dropped are the long "rubber
sheet" triangles that span depth discontinuities (they carry no image information: the pixels
they would cover are disoccluded and get mask 0), unless ``window`` is raised to cover them.

Visibility (which triangle wins a pixel) is piecewise constant; gradients flow through the
perspective-correct barycentric coordinates of the winning triangle (``interpolate``) and,
for the soft mask, through the distance of uncovered pixels to nearby triangles (``rasterize``
with ``sigma``).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.render.camera import NEAR

# A pixel centre counts as inside when all its barycentric coordinates are >= -INSIDE_TOL, so
# centres on shared edges and vertices are covered despite rounding.
INSIDE_TOL = 1e-4
# Triangles whose screen area (in pixels^2, times 2) is below this are dropped.
MIN_AREA2 = 1e-6
# Soft-mask candidates extend this many sigmas beyond the hard window on every side.
SOFT_REACH = 4.0


def grid_triangles(height: int, width: int) -> np.ndarray:
  """(2 (H-1) (W-1), 3) int32 vertex indices (row-major pixels) of a depth-map mesh.

  Each pixel quad (i, j)-(i+1, j+1) is split along its (i, j)-(i+1, j+1) diagonal into
  (top-left, bottom-left, bottom-right) and (top-left, bottom-right, top-right), both
  counterclockwise seen from the camera (y up).
  """
  index = np.arange(height * width, dtype=np.int32).reshape(height, width)
  tl, tr = index[:-1, :-1], index[:-1, 1:]
  bl, br = index[1:, :-1], index[1:, 1:]
  first = np.stack([tl, bl, br], -1).reshape(-1, 3)
  second = np.stack([tl, br, tr], -1).reshape(-1, 3)
  return np.stack([first, second], 1).reshape(-1, 3)


def _cross2(a, b):
  return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _edge_weights(corners, points):
  """Screen-space barycentrics of ``points`` (..., 2) in triangles ``corners`` (..., 3, 2).

  Returns (weights (..., 3), twice the signed area (...)). The area is replaced by
  ``MIN_AREA2`` where it is smaller, so weights and gradients stay finite.
  """
  a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
  area = _cross2(b - a, c - a)
  safe = jnp.where(jnp.abs(area) > MIN_AREA2, area, MIN_AREA2)
  pa, pb, pc = a - points, b - points, c - points
  weights = jnp.stack([_cross2(pb, pc), _cross2(pc, pa), _cross2(pa, pb)], -1)
  return weights / safe[..., None], area


def _perspective(weights, depths):
  """Perspective-correct weights and depth from screen-space ``weights`` and vertex ``depths``.

  1/d is affine in screen space, so d = 1 / sum(w_i / d_i) and the 3D barycentrics are
  (w_i / d_i) * d. Depths must be >= NEAR (callers clamp them).
  """
  inverse = weights / depths
  total = jnp.maximum(jnp.sum(inverse, -1), 1e-6)
  return inverse / total[..., None], 1.0 / total


def _segment_distance(points, a, b):
  """Distance (...) from ``points`` (..., 2) to segments a-b (..., 2); finite gradients."""
  ab, ap = b - a, points - a
  t = jnp.clip(jnp.sum(ap * ab, -1) / jnp.maximum(jnp.sum(ab * ab, -1), 1e-12), 0.0, 1.0)
  gap = ap - t[..., None] * ab
  return jnp.sqrt(jnp.maximum(jnp.sum(gap * gap, -1), 1e-12))


def rasterize(screen, triangles, height: int, width: int, window: int = 4,
              sigma: float | None = None):
  """Nearest covering triangle per pixel, and optionally a soft coverage mask.

  Args:
    screen: (V, 3) vertices [u, v, d] in pixels and depth units (see module doc).
    triangles: (T, 3) int vertex indices.
    height, width: output size.
    window: pixels tested per triangle along each axis (static).
    sigma: None for no soft mask; else the soft-mask scale in pixels (static).
  Returns:
    ids: (H, W) int32 index of the winning triangle, -1 where no triangle covers the pixel.
    soft: (H, W) soft mask or None: 1 on covered pixels; elsewhere 1 - prod_t (1 - c_t) with
      c_t = 2 sigmoid(-dist_t / sigma) over the triangles t within reach, dist_t the distance
      in pixels from the pixel centre to triangle t. It is continuous at the silhouette (c = 1
      at distance 0) and differentiable in ``screen`` outside it.
  """
  triangles = jnp.asarray(triangles, jnp.int32)
  margin = 0 if sigma is None else math.ceil(SOFT_REACH * sigma)
  size = window + 2 * margin
  corners = screen[triangles]                                   # (T, 3, 3)
  xy = corners[..., :2]
  # Candidate pixel centres start at the first integer at or above the box corner, less a
  # rounding allowance (a vertex computed as 3.0000002 still covers pixel 3).
  box = jax.lax.stop_gradient(jnp.min(xy, axis=1))               # (T, 2)
  low = jnp.ceil(box - 1e-3) - margin
  steps = jnp.arange(size, dtype=screen.dtype)
  cu = low[:, None, None, 0] + steps[None, None, :]              # (T, 1, K)
  cv = low[:, None, None, 1] + steps[None, :, None]              # (T, K, 1)
  cu, cv = jnp.broadcast_arrays(cu, cv)
  points = jnp.stack([cu, cv], -1)                                # (T, K, K, 2)

  fixed = jax.lax.stop_gradient(corners)
  weights, area = _edge_weights(fixed[:, None, None, :, :2], points)
  vertex_depth = fixed[:, None, None, :, 2]
  # A triangle is drawn only if the pixel centres of its bounding box fit in the window.
  fits = jnp.all(jax.lax.stop_gradient(jnp.max(xy, axis=1)) < low + margin + window, -1)
  usable = ((jnp.abs(area) > MIN_AREA2) & jnp.all(vertex_depth > NEAR, -1)
            & fits[:, None, None])                                             # (T, 1, 1)
  in_image = (cu >= 0) & (cu <= width - 1) & (cv >= 0) & (cv <= height - 1)
  inside = jnp.all(weights >= -INSIDE_TOL, -1) & in_image & usable
  _, depth = _perspective(weights, jnp.maximum(vertex_depth, NEAR))

  pixel = (jnp.clip(cv, 0, height - 1) * width + jnp.clip(cu, 0, width - 1)).astype(jnp.int32)
  drop = height * width
  target = jnp.where(inside, pixel, drop).reshape(-1)
  depth = jnp.where(inside, depth, jnp.inf).reshape(-1)
  zbuffer = jnp.full((drop,), jnp.inf, depth.dtype).at[target].min(depth, mode="drop")
  won = inside.reshape(-1) & (depth <= zbuffer[jnp.minimum(target, drop - 1)])
  tri = jnp.broadcast_to(jnp.arange(triangles.shape[0], dtype=jnp.int32)[:, None, None],
                         inside.shape).reshape(-1)
  ids = jnp.full((drop,), -1, jnp.int32).at[jnp.where(won, target, drop)].max(tri, mode="drop")
  ids = ids.reshape(height, width)
  if sigma is None:
    return ids, None

  xy = corners[:, None, None, :, :2]
  dist = jnp.minimum(jnp.minimum(
      _segment_distance(points, xy[..., 0, :], xy[..., 1, :]),
      _segment_distance(points, xy[..., 1, :], xy[..., 2, :])),
      _segment_distance(points, xy[..., 2, :], xy[..., 0, :]))
  near = in_image & usable & ~inside
  coverage = jnp.where(near, 2.0 * jax.nn.sigmoid(-dist / sigma), 0.0)
  log_miss = jnp.log1p(-jnp.minimum(coverage, 1.0 - 1e-6))
  total = jnp.zeros((drop,), log_miss.dtype).at[pixel.reshape(-1)].add(log_miss.reshape(-1))
  soft = jnp.where(ids >= 0, 1.0, 1.0 - jnp.exp(total.reshape(height, width)))
  return ids, soft


def interpolate(screen, triangles, ids):
  """Perspective-correct barycentrics of each pixel centre in its winning triangle.

  Args:
    screen: (V, 3) vertices [u, v, d] (differentiable).
    triangles: (T, 3) int vertex indices.
    ids: (H, W) winning triangle per pixel, -1 for none (from ``rasterize``).
  Returns:
    weights: (H, W, 3) 3D barycentric weights (sum to 1; any attribute that is affine on the
      triangle in 3D interpolates exactly with them).
    vertices: (H, W, 3) int32 vertex indices of the winning triangle.
    depth: (H, W) depth of the surface at the pixel centre.
    mask: (H, W) bool, covered pixels; weights and depth are finite but meaningless elsewhere.
  """
  height, width = ids.shape
  mask = ids >= 0
  vertices = jnp.asarray(triangles, jnp.int32)[jnp.maximum(ids, 0)]
  corners = screen[vertices]                                      # (H, W, 3, 3)
  v, u = jnp.meshgrid(jnp.arange(height, dtype=screen.dtype),
                      jnp.arange(width, dtype=screen.dtype), indexing="ij")
  weights, _ = _edge_weights(corners[..., :2], jnp.stack([u, v], -1))
  weights, depth = _perspective(weights, jnp.maximum(corners[..., 2], NEAR))
  return weights, vertices, depth, mask
