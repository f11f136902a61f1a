"""Triangle rasteriser in plain JAX (runs on CPU, GPU and TPU): z-buffer, barycentrics, soft mask.

Triangles are given by their vertices in screen space, ``screen`` (B, V, 3) = [u, v, d]: pixel
column, pixel row (pixel centres at integers) and depth along the optical axis. A pixel is
covered by a triangle when its centre lies inside the projected triangle (edges included);
among the covering triangles the nearest one at that pixel wins (z-buffer). Both orientations
are drawn (no back-face culling). Triangles with a vertex nearer than ``camera.NEAR`` or with
(almost) zero screen area are dropped.

With ``perspective=False`` the screen coordinates are orthographic: d is still a depth (> NEAR,
smaller is nearer) but it, rather than 1/d, is affine in screen space, and the barycentrics are
the screen-space ones. Triangles (T, 3) are shared by the batch, or (B, T, 3) are per image.

Cost: each triangle tests the pixel centres of its bounding box (clipped to the image). The
tests of all triangles of the batch are laid out in a fixed budget of ``capacity`` slots per
output pixel (a prefix sum of the box sizes assigns each slot its triangle and pixel); each
test scatters 1/depth with a max into a z-buffer, then the winners scatter their index. The
cost is therefore linear in the number of pixels whatever the triangles' sizes, and the same
code runs on any backend. A depth-map mesh needs at most 8 tests per pixel in its own view,
where every vertex sits on a pixel centre (4 per triangle, 2 triangles per pixel), and 2 to 5
in turned views of smooth surfaces; the long triangles of steep walls and of depth
discontinuities ("rubber sheets") need more. When the boxes of a batch would exceed the
budget, the largest triangles are left out until the rest fit (a bisection on the box size),
so the sheets across discontinuities go first.

Visibility (which triangle wins a pixel) is piecewise constant; gradients flow through the
perspective-correct barycentric coordinates of the winning triangle (``interpolate``) and,
for ``soft_mask``, through the distance of uncovered pixels to nearby visible triangles.
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
# Default budget of pixel-triangle tests per output pixel (see the module doc).
CAPACITY = 16.0
# The soft mask looks this many sigmas (at least one pixel) around each uncovered pixel.
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


def gather_corners(values, vertices):
  """Per-vertex values (B, V, ...) at vertex indices (B, H, W, 3) -> (B, H, W, 3, ...)."""
  return jax.vmap(lambda per_image, index: per_image[index])(values, vertices)


def _triangle_corners(values, triangles):
  """Per-vertex values (B, V, ...) at triangles (T, 3) or (B, T, 3) -> (B, T, 3, ...)."""
  return values[:, triangles] if triangles.ndim == 2 else gather_corners(values, triangles)


def _winner_vertices(triangles, ids):
  """Vertex indices (B, H, W, 3) of triangles (T, 3) or (B, T, 3) at ids (B, H, W) >= 0."""
  return triangles[ids] if triangles.ndim == 2 else gather_corners(triangles, ids)


def _affine_setup(corners, perspective: bool = True):
  """Per-triangle affine forms of the barycentrics and of 1/depth in screen space.

  For corners (..., 3, 3) = [u, v, d] of triangles (a, b, c), a pixel p has
  p - a = beta (b - a) + gamma (c - a), so beta and gamma are affine in p with constant
  gradients; 1/d is affine in screen space too (perspective), so it is
  q(p) = q_a + beta (q_b - q_a) + gamma (q_c - q_a), q = 1/d. Orthographic (``perspective``
  False): d itself is affine, and q = d.
  Returns (origin a (..., 2), d beta / dp (..., 2), d gamma / dp (..., 2), q (..., 3), twice
  the signed area (...)). The area is replaced by ``MIN_AREA2`` where it is smaller, and depths
  below ``NEAR`` by ``NEAR``, so every value and gradient stays finite.
  """
  origin = corners[..., 0, :2]
  e1 = corners[..., 1, :2] - origin
  e2 = corners[..., 2, :2] - origin
  area = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
  inverse = 1.0 / jnp.where(jnp.abs(area) > MIN_AREA2, area, MIN_AREA2)
  grad_beta = jnp.stack([e2[..., 1], -e2[..., 0]], -1) * inverse[..., None]
  grad_gamma = jnp.stack([-e1[..., 1], e1[..., 0]], -1) * inverse[..., None]
  depth = jnp.maximum(corners[..., 2], NEAR)
  return origin, grad_beta, grad_gamma, 1.0 / depth if perspective else depth, area


def _affine(q, beta, gamma):
  """Interpolates per-corner values q (..., 3) at barycentrics beta, gamma (...)."""
  return q[..., 0] + beta * (q[..., 1] - q[..., 0]) + gamma * (q[..., 2] - q[..., 0])


def _box(corners, height: int, width: int):
  """First pixel centre (N, 2) [u, v] and size (N, 2) of each triangle's bounding box of pixel
  centres, clipped to the image; corners (N, 3, 3). The rounding allowance lets a vertex
  computed as 3.0000002 still cover pixel 3."""
  low = jnp.maximum(jnp.ceil(jnp.min(corners[..., :2], axis=1) - 1e-3), 0.0)
  high = jnp.minimum(jnp.floor(jnp.max(corners[..., :2], axis=1) + 1e-3),
                     jnp.array([width - 1, height - 1], corners.dtype))
  return low, high - low + 1


def required_capacity(screen, triangles, height: int, width: int):
  """Scalar: the smallest ``capacity`` at which ``rasterize`` leaves no triangle out.

  Args: as for ``rasterize``. An upper bound: counts the boxes of all triangles, drawable or not.
  """
  corners = _triangle_corners(screen, jnp.asarray(triangles, jnp.int32))
  _, extent = _box(corners.reshape(-1, 3, 3), height, width)
  return jnp.sum(jnp.prod(jnp.maximum(extent, 0.0), -1)) / (screen.shape[0] * height * width)


def _size_limit(tests, slots: int, largest: int):
  """Largest c in [0, largest] such that the triangles with <= c tests need <= ``slots``.

  A bisection on c; the sums are in floating point (no integer overflow), and a rounding slip
  only lets the last triangles' tests run past the budget, where they are dropped.
  """
  sizes = tests.astype(jnp.float32)

  def bisect(_, bounds):
    low, high = bounds
    middle = (low + high + 1) // 2
    fits = jnp.sum(jnp.where(tests <= middle, sizes, 0.0)) <= slots
    return jnp.where(fits, middle, low), jnp.where(fits, high, middle - 1)

  steps = max(1, largest).bit_length() + 1
  low, _ = jax.lax.fori_loop(0, steps, bisect, (jnp.int32(0), jnp.int32(largest)))
  return low


def rasterize(screen, triangles, height: int, width: int, capacity: float = CAPACITY,
              perspective: bool = True):
  """Index of the nearest triangle covering each pixel centre (the z-buffer).

  Args:
    screen: (B, V, 3) vertices [u, v, d] in pixels and depth units (see module doc).
    triangles: (T, 3) int vertex indices shared by the batch, or (B, T, 3) per image.
    height, width: output size.
    capacity: pixel-triangle tests per output pixel, on average over the batch (static).
    perspective: False for orthographic screen coordinates (d affine in screen space).
  Returns:
    (B, H, W) int32 index of the winning triangle, -1 where no triangle covers the pixel.
  """
  triangles = jnp.asarray(triangles, jnp.int32)
  batch, count = screen.shape[0], triangles.shape[-2]
  pixels = height * width
  slots = max(1, math.ceil(capacity * batch * pixels))
  if slots >= 2**30:
    raise ValueError(f"capacity: expected capacity * B * H * W < 2**30, got {slots}")
  # The batch is folded into the triangle axis: one scatter for all images (XLA runs that much
  # faster than a vmapped, batched scatter), and one budget of slots shared by all images.
  corners = _triangle_corners(jax.lax.stop_gradient(screen), triangles).reshape(
      batch * count, 3, 3)
  origin, grad_beta, grad_gamma, q, area = _affine_setup(corners, perspective)
  low, extent = _box(corners, height, width)  # pixel centres in the bounding box
  usable = ((jnp.abs(area) > MIN_AREA2) & jnp.all(corners[..., 2] > NEAR, -1)
            & jnp.all(extent >= 1, -1))
  tests = jnp.where(usable, extent[:, 0] * extent[:, 1], 0).astype(jnp.int32)
  tests = jnp.where(tests <= _size_limit(tests, slots, pixels), tests, 0)
  ends = jnp.cumsum(tests)         # <= slots (up to rounding) after the size limit: no overflow
  starts = ends - tests
  # Slot s belongs to the last triangle whose first slot is <= s.
  index = jnp.arange(batch * count, dtype=jnp.int32)
  first = jnp.where((tests > 0) & (starts < slots), starts, slots)
  owner = jax.lax.cummax(jnp.full((slots,), -1, jnp.int32).at[first].max(index, mode="drop"))
  slot = jnp.arange(slots, dtype=jnp.int32)
  tri = jnp.maximum(owner, 0)
  # Gather each slot's triangle data as one row (much faster than one gather per quantity).
  corner_pixel = (index // count) * pixels + (low[:, 1] * width + low[:, 0]).astype(jnp.int32)
  ints = jnp.stack([starts, ends, corner_pixel], -1)[tri]
  floats = jnp.concatenate([low - origin, grad_beta, grad_gamma, q, extent[:, :1]], -1)[tri]
  valid = (owner >= 0) & (slot < ints[:, 1])
  offset = (slot - ints[:, 0]).astype(screen.dtype)
  row = jnp.floor((offset + 0.5) / floats[:, 9])
  col = offset - row * floats[:, 9]
  du, dv = floats[:, 0] + col, floats[:, 1] + row
  beta = du * floats[:, 2] + dv * floats[:, 3]
  gamma = du * floats[:, 4] + dv * floats[:, 5]
  inside = (valid & (beta >= -INSIDE_TOL) & (gamma >= -INSIDE_TOL)
            & (1 - beta - gamma >= -INSIDE_TOL))
  value = _affine(floats[:, 6:9], beta, gamma)  # 1 / depth, or depth (orthographic)
  nearness = jnp.where(inside, value if perspective else 1.0 / value, -1.0)  # 1 / depth
  pixel = ints[:, 2] + row.astype(jnp.int32) * width + col.astype(jnp.int32)
  drop = batch * pixels
  target = jnp.where(inside, pixel, drop)
  zbuffer = jnp.zeros((drop,), nearness.dtype).at[target].max(nearness, mode="drop")
  won = inside & (nearness >= zbuffer[jnp.minimum(target, drop - 1)])
  ids = jnp.full((drop,), -1, jnp.int32).at[jnp.where(won, target, drop)].max(
      tri % count, mode="drop")
  return ids.reshape(batch, height, width)


def interpolate(screen, triangles, ids, perspective: bool = True):
  """Perspective-correct barycentrics of each pixel centre in its winning triangle.

  Args:
    screen: (B, V, 3) vertices [u, v, d] (differentiable).
    triangles: (T, 3) int vertex indices, or (B, T, 3) per image.
    ids: (B, H, W) winning triangle per pixel, -1 for none (from ``rasterize``).
    perspective: False for orthographic screen coordinates: the weights are then the
      screen-space barycentrics, and depth is interpolated affinely.
  Returns:
    weights: (B, H, W, 3) 3D barycentric weights (sum to 1; any attribute that is affine on
      the triangle in 3D interpolates exactly with them).
    vertices: (B, H, W, 3) int32 vertex indices of the winning triangle.
    depth: (B, H, W) depth of the surface at the pixel centre.
    mask: (B, H, W) bool, covered pixels; weights and depth are finite but meaningless
      elsewhere.
  """
  height, width = ids.shape[1:]
  mask = ids >= 0
  vertices = _winner_vertices(jnp.asarray(triangles, jnp.int32), jnp.maximum(ids, 0))
  origin, grad_beta, grad_gamma, q, _ = _affine_setup(gather_corners(screen, vertices),
                                                      perspective)
  v, u = jnp.meshgrid(jnp.arange(height, dtype=screen.dtype),
                      jnp.arange(width, dtype=screen.dtype), indexing="ij")
  offset = jnp.stack([u, v], -1) - origin
  beta = jnp.sum(offset * grad_beta, -1)
  gamma = jnp.sum(offset * grad_gamma, -1)
  weights = jnp.stack([1 - beta - gamma, beta, gamma], -1)
  if not perspective:
    return weights, vertices, _affine(q, beta, gamma), mask
  nearness = jnp.maximum(_affine(q, beta, gamma), 1e-6)
  return weights * q / nearness[..., None], vertices, 1.0 / nearness, mask


def _segment_sq_distance(points, a, b):
  """Squared distance (...) from ``points`` (..., 2) to segments a-b (..., 2)."""
  ab, ap = b - a, points - a
  t = jnp.clip(jnp.sum(ap * ab, -1) / jnp.maximum(jnp.sum(ab * ab, -1), 1e-12), 0.0, 1.0)
  gap = ap - t[..., None] * ab
  return jnp.sum(gap * gap, -1)


def soft_mask(screen, triangles, ids, sigma: float = 0.5):
  """A coverage mask with gradients at the silhouette, from the hard z-buffer ``ids``.

  Covered pixels get 1. An uncovered pixel gets 2 sigmoid(-dist / sigma), where dist is its
  distance in pixels to the nearest triangle among those that win the pixels within
  ceil(SOFT_REACH sigma) rows and columns of it (0 when there are none). It is 1 at the
  silhouette, falls off outside it over about ``sigma`` pixels, and is differentiable in
  ``screen`` through the vertices of that nearest triangle.

  Args:
    screen: (B, V, 3) vertices [u, v, d].
    triangles: (T, 3) int vertex indices.
    ids: (B, H, W) from ``rasterize``.
    sigma: fall-off in pixels (static).
  Returns:
    (B, H, W) mask in [0, 1].
  """
  batch, height, width = ids.shape
  triangles = jnp.asarray(triangles, jnp.int32)
  reach = max(1, math.ceil(SOFT_REACH * sigma))
  v, u = jnp.meshgrid(jnp.arange(height, dtype=screen.dtype),
                      jnp.arange(width, dtype=screen.dtype), indexing="ij")
  points = jnp.stack([u, v], -1)[..., None, :]                          # (H, W, 1, 2)

  def sq_distance(corners):  # (B, H, W, 3, 2) -> (B, H, W) squared distance to the edges
    return jnp.min(_segment_sq_distance(points, corners, jnp.roll(corners, -1, axis=-2)), -1)

  # Find the nearest neighbouring triangle without gradients (shifting the per-pixel corners of
  # the winners), then measure the distance to it differentiably.
  fixed = gather_corners(jax.lax.stop_gradient(screen[..., :2]),
                         triangles[jnp.maximum(ids, 0)])
  pad = ((0, 0), (reach, reach), (reach, reach))
  fixed = jnp.pad(fixed, pad + ((0, 0), (0, 0)))
  padded = jnp.pad(ids, pad, constant_values=-1)
  side = 2 * reach + 1

  def search(k, state):
    nearest, best = state
    dv, du = k // side, k % side
    other = jax.lax.dynamic_slice(padded, (0, dv, du), (batch, height, width))
    corners = jax.lax.dynamic_slice(fixed, (0, dv, du, 0, 0), (batch, height, width, 3, 2))
    dist = jnp.where(other >= 0, sq_distance(corners), jnp.inf)
    closer = dist < nearest
    return jnp.where(closer, dist, nearest), jnp.where(closer, other, best)

  _, best = jax.lax.fori_loop(0, side * side, search, (
      jnp.full(ids.shape, jnp.inf, screen.dtype), jnp.full(ids.shape, -1, jnp.int32)))
  # sqrt at a floor keeps the gradient finite for a pixel centre on an edge.
  dist = jnp.sqrt(jnp.maximum(
      sq_distance(gather_corners(screen[..., :2], triangles[jnp.maximum(best, 0)])), 1e-12))
  outside = jnp.where(best >= 0, 2.0 * jax.nn.sigmoid(-dist / sigma), 0.0)
  return jnp.where(ids >= 0, 1.0, outside)
