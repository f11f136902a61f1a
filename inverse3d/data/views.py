"""Dataset images: shaded views of voxel objects and of face meshes (orthographic cameras).

Objects (the paper's ModelNet10 setup): a camera on a circle about the vertical axis (axis 2 of
the voxel grid), raised by VIEW_ELEVATION, looks at the grid centre. Every pixel casts one ray
and exactly finds the first occupied voxel it crosses: the ray's crossings with all the voxel
planes are sorted, each segment between two crossings lies in one voxel, and the segment's
entry plane gives the face normal. Which voxels a pixel crosses depends on the view only, so
the rendering of a batch is one gather of occupancy plus a first-hit search.

Faces: the mesh is turned by the yaw about +y (+z towards the viewer at yaw 0, +y up; a
positive yaw turns the nose to the image's right), centred and scaled to fit the frame at
all the requested yaws, and its triangles are rasterised by the renderer's z-buffer
(``inverse3d.render.raster``, orthographic) at the pixel centres, so a closed mesh leaves no
holes at any size. Albedo and smooth vertex normals are interpolated barycentrically. Without
triangles, each point cloud's frontal (x, y) projection is Delaunay triangulated, dropping
long-edged triangles so that concave outlines stay open.

Both renderers shade Lambertian surfaces, ``albedo * (AMBIENT + DIFFUSE * max(0, n . l))``, with
the light LIGHT fixed in the camera frame (x right, y up, z towards the camera); background 0.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import Delaunay

from inverse3d.checks import (check_binary, check_dtype, check_finite, check_positive_int,
                              check_range, check_shape)
from inverse3d.render.normals import normalize
from inverse3d.render.raster import gather_corners, interpolate, rasterize, required_capacity
from inverse3d.render.shading import shade
from inverse3d.render.view import rotation_matrix

OBJECT_VIEW_ANGLES = tuple(22.5 * i for i in range(8))
"""Eight camera azimuths (degrees) in [0, 180) about the vertical axis, as in the paper."""
FACE_YAWS = (-45.0, 0.0, 45.0)
"""Face yaws (degrees) of the paper's face images."""
VIEW_ELEVATION = 25.0
"""Object camera elevation (degrees) above the horizontal, so that tops and seats show."""
VIEW_FIELD = 34.0 / 30.0
"""Object image width in units of the voxel grid's side (a 30^3 grid: 34 voxels wide)."""
LIGHT = (-0.4, 0.5, 1.0)
"""Light direction in the camera frame: from the upper left, in front."""
AMBIENT, DIFFUSE = 0.3, 0.7
# The same light as inverse3d.render.shade's [ambient, diffuse, dx, dy] (direction (dx, dy, 1)).
_FACE_LIGHT = np.array([AMBIENT, DIFFUSE, LIGHT[0] / LIGHT[2], LIGHT[1] / LIGHT[2]], np.float32)
FACE_FILL = 0.92
"""Fraction of the half-frame filled by a face at the widest of the requested yaws."""
LONG_EDGE = 3.0
"""Delaunay triangles longer than this many median edges are dropped (no triangles given)."""
_SLOTS_PER_CHUNK = 2 ** 22  # rasteriser memory bound: pixel-triangle tests laid out at once
MAX_SIZE = 4096
"""Largest image side accepted (a typo such as size=10**6 fails at once, not at allocation)."""


def _camera(angle_deg, elevation_deg):
  """Right, up and towards-camera unit vectors (3,) each for an azimuth/elevation in degrees.

  At azimuth 0 the camera sits on the -y side looking along +y with +x to the image's right;
  a positive azimuth turns it clockwise seen from above, towards -x, so that azimuths in
  [0, 180] see the fronts of ModelNet furniture (chairs face -y, sofas and dressers -x).
  """
  theta, elev = jnp.deg2rad(angle_deg), jnp.deg2rad(elevation_deg)
  zero = jnp.zeros_like(theta)
  right = jnp.stack([jnp.cos(theta), -jnp.sin(theta), zero])
  level = jnp.stack([-jnp.sin(theta), -jnp.cos(theta), zero])
  vertical = jnp.array([0.0, 0.0, 1.0])
  return (right, -jnp.sin(elev) * level + jnp.cos(elev) * vertical,
          jnp.cos(elev) * level + jnp.sin(elev) * vertical)


def ray_segments(angle_deg, size: int, grid: int, elevation_deg=VIEW_ELEVATION, light=LIGHT):
  """The voxels each pixel's ray crosses, in order, and the shade of each entry face.

  Voxel (i, j, k) is the cube of side 1 centred at (i, j, k). Returns
    cells: (size * size, 3 * grid + 2) int32 flat voxel indices (C order) along each ray,
      grid**3 where a segment lies outside the grid;
    shade: (size * size, 3 * grid + 2) float32 shade of the face through which the ray enters.
  """
  right, up, toward = _camera(angle_deg, elevation_deg)
  half = VIEW_FIELD * grid / 2
  u = (jnp.arange(size, dtype=jnp.float32) + 0.5) * (2 * half / size) - half
  centre = jnp.full(3, (grid - 1) / 2, jnp.float32)
  origin = (centre + grid * toward + u[None, :, None] * right - u[:, None, None] * up)
  origin = origin.reshape(-1, 3)  # (P, 3), rows from the top of the image
  direction = -toward
  planes = jnp.arange(grid + 1, dtype=jnp.float32) - 0.5
  safe = jnp.where(jnp.abs(direction) > 1e-7, direction, 1.0)
  t = (planes[None, None, :] - origin[:, :, None]) / safe[None, :, None]  # (P, 3, G+1)
  t = jnp.where(jnp.abs(direction)[None, :, None] > 1e-7, t, jnp.inf).reshape(len(origin), -1)
  order = jnp.argsort(t, axis=1)
  t = jnp.take_along_axis(t, order, axis=1)
  axis = order[:, :-1] // (grid + 1)  # the plane through which each segment is entered
  middle = (t[:, :-1] + t[:, 1:]) / 2
  point = origin[:, None, :] + jnp.where(jnp.isfinite(middle), middle, 0.0)[..., None] * direction
  index = jnp.floor(point + 0.5).astype(jnp.int32)  # (P, S, 3)
  valid = jnp.isfinite(middle) & jnp.all((index >= 0) & (index < grid), axis=-1)
  flat = (index[..., 0] * grid + index[..., 1]) * grid + index[..., 2]
  cells = jnp.where(valid, flat, grid ** 3)
  light_world = normalize(jnp.asarray(light, jnp.float32)) @ jnp.stack([right, up, toward])
  normal_dot = -jnp.sign(direction) * light_world  # (3,): entry face normal . light per axis
  shade = AMBIENT + DIFFUSE * jnp.maximum(normal_dot[axis], 0.0)
  return cells, shade.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("size", "batch"))
def _render_voxels(voxels, angles_deg, elevation_deg, light, size: int, batch: int):
  n, grid = voxels.shape[0], voxels.shape[1]
  cells, shade = jax.vmap(lambda a: ray_segments(a, size, grid, elevation_deg, light))(
      angles_deg)  # (A, P, S) each
  flat = voxels.reshape(n, -1).astype(jnp.uint8)
  chunks = jnp.pad(flat, ((0, -n % batch), (0, 1))).reshape(-1, batch, grid ** 3 + 1)

  segments = cells.shape[-1]
  order = jnp.arange(segments, dtype=jnp.int32)[None, None, :, None]
  shade = jnp.pad(shade, ((0, 0), (0, 0), (0, 1)))  # a ray that hits nothing reads 0

  def render_chunk(chunk):  # (B, G^3 + 1) -> (A, P, B)
    occupied = chunk.T[cells] > 0  # (A, P, S, B): one row of B samples per gathered cell
    first = jnp.min(jnp.where(occupied, order, segments), axis=2)
    return jnp.take_along_axis(shade, first, axis=2)

  images = jax.lax.map(render_chunk, chunks)  # (chunks, A, P, B)
  images = jnp.moveaxis(images, 3, 1).reshape(-1, len(angles_deg), size, size)
  return images[:n]


def render_voxel_views(voxels, angles_deg, size: int = 32, elevation_deg=VIEW_ELEVATION,
                       light=LIGHT, batch: int = 64):
  """Shaded grayscale views of voxel objects from cameras about the vertical axis.

  voxels: (N, G, G, G) bool, integer or float array in {0, 1}, axis 2 vertical.
  angles_deg: (A,) camera azimuths in degrees, e.g. OBJECT_VIEW_ANGLES.
  size: image side in pixels, in [1, MAX_SIZE]. elevation_deg: camera elevation in degrees.
    light: (3,) light direction in the camera frame. batch: samples rendered at once (memory
    about 2 * A * size^2 * (3G + 2) * batch bytes).
  Returns (N, A, size, size) float32 in [0, 1]; background 0, surfaces >= AMBIENT.
  jit-able. Value checks run on host (NumPy) inputs only, see ``inverse3d.checks``.
  """
  size = check_positive_int("size", size, maximum=MAX_SIZE,
                            hint="memory grows as A * size^2 * (3 G + 2) * batch bytes")
  check_shape("voxels", voxels, (None, "G", "G", "G"))
  check_dtype("voxels", voxels, "biuf")
  check_binary("voxels", voxels)
  check_shape("angles_deg", angles_deg, (None,))
  check_dtype("angles_deg", angles_deg, "iuf")
  check_finite("angles_deg", angles_deg)
  check_shape("elevation_deg", elevation_deg, ())
  check_dtype("elevation_deg", elevation_deg, "iuf")
  check_finite("elevation_deg", elevation_deg)
  check_shape("light", light, (3,))
  check_dtype("light", light, "iuf")
  check_finite("light", light)
  batch = min(check_positive_int("batch", batch), len(voxels))
  angles_deg = jnp.asarray(angles_deg, jnp.float32)
  return _render_voxels(jnp.asarray(voxels), angles_deg, jnp.float32(elevation_deg),
                        jnp.asarray(light, jnp.float32), size=size, batch=batch)


def _vertex_normals(points, triangles):
  """Area-weighted unit vertex normals (V, 3) of a mesh, points (V, 3), triangles (T, 3)."""
  corner = points[triangles]  # (T, 3, 3)
  face = jnp.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0])
  summed = jax.ops.segment_sum(jnp.repeat(face, 3, axis=0), triangles.reshape(-1),
                               num_segments=points.shape[0])
  return normalize(summed)


def _yaw_rotation(yaw_deg):
  """(3, 3) rotation about +y by ``yaw_deg``: a positive yaw turns +z towards +x."""
  return rotation_matrix(jnp.stack([0.0, jnp.deg2rad(yaw_deg), 0.0]))


def _turn(points, yaws_deg, size: int):
  """One face (V, 3), centred and scaled to pixels, at yaws (A,): its view-frame points
  (A, V, 3) (x right, y up, z towards the viewer) and orthographic screen coordinates
  (A, V, 3) [column, row, depth] for ``raster``, depth >= 1 (the distance from a plane in
  front of the face)."""
  view = jax.vmap(lambda yaw: points @ _yaw_rotation(yaw).T)(yaws_deg)
  front = 1.0 + jnp.max(jnp.linalg.norm(points, axis=-1))
  screen = jnp.stack([view[..., 0] + size / 2 - 0.5, size / 2 - 0.5 - view[..., 1],
                      front - view[..., 2]], -1)
  return view, screen


def _map_faces(fn, arrays, triangles, batch: int):
  """jax.lax.map of fn(*arrays[i], triangles[i]) over faces; triangles (T, 3) are shared by
  all faces or (N, T, 3) are per face."""
  if triangles.ndim == 2:
    return jax.lax.map(lambda xs: fn(*xs, triangles), arrays, batch_size=batch)
  return jax.lax.map(lambda xs: fn(*xs), (*arrays, triangles), batch_size=batch)


@functools.partial(jax.jit, static_argnames=("size",))
def _fit_to_frame(points, yaws_deg, size: int):
  """Faces (N, V, 3) centred on their bounding boxes and scaled to pixels so that each fills
  FACE_FILL of the half-frame at the widest of its yaws (one scale for all of them)."""
  offset = points - (points.min(1, keepdims=True) + points.max(1, keepdims=True)) / 2
  yaw = jnp.deg2rad(yaws_deg)
  across = jnp.abs(offset[..., 0, None] * jnp.cos(yaw) + offset[..., 2, None] * jnp.sin(yaw))
  half = jnp.maximum(jnp.max(across, axis=(1, 2)), jnp.max(jnp.abs(offset[..., 1]), axis=1))
  return offset * (FACE_FILL * size / 2 / jnp.maximum(half, 1e-12))[:, None, None]


@functools.partial(jax.jit, static_argnames=("size",))
def _capacity(points, triangles, yaws_deg, size: int):
  """The raster capacity that leaves no triangle out of any face's views; points (N, V, 3) in
  pixels, triangles (T, 3) or (N, T, 3)."""
  def one(p, t):
    return required_capacity(_turn(p, yaws_deg, size)[1], t, size, size)
  return jnp.max(_map_faces(one, (points,), triangles, batch=64))


@functools.partial(jax.jit, static_argnames=("size", "chunk", "capacity"))
def _render_faces(points, albedo, triangles, yaws_deg, size: int, chunk: int, capacity: float):
  """(N, A, size, size, C) images of faces (N, V, 3) in pixels with albedo (N, V, C) and
  triangles (T, 3) or (N, T, 3); ``chunk`` faces (all their yaws) are rasterised at once."""
  shared = triangles.ndim == 2
  count, views = len(points), len(yaws_deg)

  def split(x):  # (N, ...) -> (N / chunk, chunk, ...), padded with empty faces
    x = jnp.pad(x, ((0, -count % chunk),) + ((0, 0),) * (x.ndim - 1))
    return x.reshape(-1, chunk, *x.shape[1:])

  def flat(x):  # (chunk, A, ...) -> (chunk A, ...)
    return x.reshape(-1, *x.shape[2:])

  def render(arrays):
    p, a, t = arrays if not shared else (*arrays, triangles)
    view, screen = (flat(x) for x in jax.vmap(lambda q: _turn(q, yaws_deg, size))(p))
    t = t if shared else jnp.repeat(t, views, axis=0)
    ids = rasterize(screen, t, size, size, capacity, perspective=False)
    weights, corners, _, mask = interpolate(screen, t, ids, perspective=False)
    normals = jax.vmap(_vertex_normals, (0, None if shared else 0))(view, t)
    normal = jnp.einsum("bhwk,bhwkc->bhwc", weights, gather_corners(normals, corners))
    normal = normalize(normal * jnp.where(normal[..., 2:] < 0, -1.0, 1.0))  # two-sided surface
    colour = jnp.einsum("bhwk,bhwkc->bhwc", weights,
                        gather_corners(jnp.repeat(a, views, axis=0), corners))
    light = jnp.broadcast_to(_FACE_LIGHT, (len(normal), 4))
    image = jnp.where(mask[..., None], jnp.clip(shade(normal, colour, light), 0.0, 1.0), 0.0)
    return image.reshape(chunk, views, size, size, -1)

  arrays = (points, albedo) if shared else (points, albedo, triangles)
  images = jax.lax.map(render, tuple(split(x) for x in arrays))
  return images.reshape(-1, *images.shape[2:])[:count]


def _triangulate(points: np.ndarray) -> np.ndarray:
  """Delaunay triangles (T, 3) of one cloud's frontal (x, y) projection. Drops triangles whose
  longest edge exceeds LONG_EDGE median ones in (x, y) (gaps in a concave outline) or
  2 LONG_EDGE median ones in 3D (curtains across overhangs)."""
  triangles = Delaunay(points[:, :2]).simplices
  corner = points[triangles]
  keep = np.ones(len(triangles), bool)
  for dims, factor in ((2, LONG_EDGE), (3, 2 * LONG_EDGE)):
    edge = corner[..., :dims] - np.roll(corner[..., :dims], 1, axis=1)
    longest = np.max(np.linalg.norm(edge, axis=-1), axis=1)
    keep &= longest <= factor * np.median(longest)
  return triangles[keep].astype(np.int32)


def render_face_views(points, albedo, yaws_deg, size: int = 32, triangles=None):
  """Lambertian-shaded orthographic images of faces at several yaws about the vertical axis.

  points: (N, V, 3) any face point clouds (e.g. normalised to [0, 1] per axis), +y up, +z
    towards the viewer at yaw 0. Each face is centred on its bounding box and scaled so that
    it fits the frame at all the requested yaws, with one scale for all of them.
  albedo: (N, V) or (N, V, 1) grayscale, or (N, V, 3) colour, in [0, 1].
  yaws_deg: (A,) yaws in degrees, e.g. FACE_YAWS.
  size: image side in pixels (32 for the paper's images, 227 for the AlexNet encoder), at
    most MAX_SIZE.
  triangles: (T, 3) integer vertex indices shared by all faces, or None to Delaunay-triangulate
    each cloud's frontal (x, y) projection.
  Returns (N, A, size, size) float32 for grayscale albedo, (N, A, size, size, 3) for colour;
  values in [0, 1], background 0. Inputs must be concrete (not traced): the rasteriser's
  budget of pixel-triangle tests is sized from the projected triangles' bounding boxes.
  """
  size = check_positive_int("size", size, maximum=MAX_SIZE,
                            hint="the rasteriser's pixel tests grow as N * A * size^2")
  bound = check_shape("points", points, ("N", "V", 3))
  check_dtype("points", points, "f")
  check_finite("points", points)
  if np.ndim(albedo) == 2:
    albedo = (albedo if hasattr(albedo, "dtype") else np.asarray(albedo))[..., None]
  check_shape("albedo", albedo, (bound["N"], bound["V"], None))
  if np.shape(albedo)[-1] not in (1, 3):
    raise ValueError(f"albedo: expected shape (N, V), (N, V, 1) or (N, V, 3), got "
                     f"{np.shape(albedo)}")
  check_dtype("albedo", albedo, "f")
  check_finite("albedo", albedo)
  check_range("albedo", albedo, 0.0, 1.0)
  check_shape("yaws_deg", yaws_deg, (None,))
  check_dtype("yaws_deg", yaws_deg, "iuf")
  check_finite("yaws_deg", yaws_deg)
  yaws_deg = jnp.asarray(yaws_deg, jnp.float32)
  if triangles is None:
    meshes = [_triangulate(p) for p in np.asarray(points, np.float64)]
    count = max(len(m) for m in meshes)
    triangles = np.stack([np.pad(m, ((0, count - len(m)), (0, 0))) for m in meshes])
  else:
    check_shape("triangles", triangles, (None, 3))
    check_dtype("triangles", triangles, "iu")
    check_range("triangles", triangles, 0, bound["V"] - 1)
  triangles = jnp.asarray(triangles, jnp.int32)
  pixels = _fit_to_frame(jnp.asarray(points, jnp.float32), yaws_deg, size)
  # The largest need rounded up to a quarter: no triangle is left out, few recompilations.
  capacity = np.ceil(4 * float(_capacity(pixels, triangles, yaws_deg, size=size))) / 4
  chunk = int(np.clip(_SLOTS_PER_CHUNK // (capacity * len(yaws_deg) * size * size), 1,
                      bound["N"]))
  images = _render_faces(pixels, jnp.asarray(albedo, jnp.float32), triangles, yaws_deg,
                         size=size, chunk=chunk, capacity=capacity)
  return images[..., 0] if images.shape[-1] == 1 else images
