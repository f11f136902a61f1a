"""Triangle meshes: reading ModelNet .off files and voxelising them the ModelNet way.

``voxelize_mesh`` reproduces how the ModelNet voxel grids in shared/data were made with the
binvox tool (measured on toilet_0345, see tests/test_mesh_io.py):

- placement: the mesh's bounding box is centred and its longest side scaled to ``inner``
  voxels (aspect ratio kept), then the grid is padded by ``pad`` empty voxels on every side;
  .off axes are kept, so z (vertical in ModelNet) is axis 2;
- filling: binvox's default "carving": the mesh is voxelised at ``supersample`` times the
  resolution, and a fine voxel is occupied when, along each of the three axes, its centre lies
  between the first and the last surface hit of the ray through its column (so interiors are
  solid, and open cavities seen from any axis direction are carved away);
- resolution: the fine grid is reduced by ``supersample`` in each axis, a coarse voxel being
  occupied when any of its fine voxels is (binvox's ``-down``). modelnet10_vox30.npz matches
  supersample 8 (24 * 8 = 192 fine voxels); toilet_0345_30.binvox matches supersample 4
  (30 * 4 = 120) with inner 30 and pad 0.
"""
from __future__ import annotations

import itertools

import numpy as np

from inverse3d.checks import check_file, check_finite, check_positive_int, check_shape

MAX_FINE = 1024
"""Largest fine grid side inner * supersample of ``voxelize_mesh`` (and largest ``grid``)."""


def _meaningful_lines(text: str):
  """Yields (1-based line number, stripped content) for lines that are not blank or comments."""
  for lineno, line in enumerate(text.splitlines(), start=1):
    content = line.split("#", 1)[0].strip()
    if content:
      yield lineno, content


def _parse_counts(path: str, lineno: int, words: list[str]) -> tuple[int, int]:
  if len(words) not in (2, 3) or not all(w.isdigit() for w in words):
    raise ValueError(f"{path}: line {lineno}: expected counts 'vertices faces edges', got "
                     f"{' '.join(words)!r}")
  return int(words[0]), int(words[1])


def read_off(path) -> tuple[np.ndarray, np.ndarray]:
  """Reads an Object File Format mesh.

  Handles the ModelNet quirk of the counts glued to the header ('OFF490 518 0'), comments,
  CRLF line ends and extra per-vertex or per-face columns (colours, ignored). Polygons with
  more than 3 vertices are fan-triangulated: (v0, vi, vi+1) for i = 1..n-2.

  Returns:
    vertices (V, 3) float32, faces (F, 3) int32 (indices into vertices).

  Raises:
    FileNotFoundError: no such file. ValueError naming the file and line: a missing header,
    malformed counts, a non-numeric coordinate, a polygon with < 3 vertices, a vertex index
    out of range, or a truncated file.
  """
  path = check_file("path", path)
  with open(path, "r", encoding="latin-1") as f:
    text = f.read()
  lines = _meaningful_lines(text)
  lineno, head = next(lines, (0, ""))
  if not head.startswith("OFF"):
    raise ValueError(f"{path}: line {lineno}: expected the header 'OFF', got {head[:40]!r}")
  words = head[3:].split()
  if not words:  # the usual layout: counts on the next line
    lineno, counts = next(lines, (lineno, ""))
    words = counts.split()
  nv, nf = _parse_counts(path, lineno, words)
  vertex_lines = list(itertools.islice(lines, nv))
  face_lines = list(itertools.islice(lines, nf))
  if len(face_lines) < nf:
    raise ValueError(f"{path}: truncated: expected {nv} vertex lines and {nf} face lines after "
                     f"the counts on line {lineno}, the file ends at line "
                     f"{len(text.splitlines())} with {len(vertex_lines)} and {len(face_lines)}")
  vertices = np.array([_parse_vertex(path, *line) for line in vertex_lines],
                      np.float32).reshape(nv, 3)
  triangles = []
  for line in face_lines:
    idx = _parse_polygon(path, *line, nv)
    triangles.extend((idx[0], idx[i], idx[i + 1]) for i in range(1, len(idx) - 1))
  return vertices, np.array(triangles, np.int32).reshape(-1, 3)


def _parse_vertex(path: str, lineno: int, content: str) -> list[float]:
  """Parses 'x y z [colour]' into 3 finite floats."""
  try:
    xyz = [float(w) for w in content.split()[:3]]
  except ValueError:
    xyz = []
  if len(xyz) != 3 or not np.all(np.isfinite(xyz)):
    raise ValueError(f"{path}: line {lineno}: expected 3 finite vertex coordinates, got "
                     f"{content!r}")
  return xyz


def _parse_polygon(path: str, lineno: int, content: str, nv: int) -> list[int]:
  """Parses 'n i1 ... in [colour]' into the n vertex indices, checking count and range."""
  words = content.split()
  try:
    n = int(words[0])
    idx = [int(w) for w in words[1:n + 1]]
  except ValueError:
    raise ValueError(f"{path}: line {lineno}: expected a polygon 'n i1 ... in' of integers, "
                     f"got {content!r}") from None
  if n < 3 or len(idx) != n:
    raise ValueError(f"{path}: line {lineno}: expected a polygon of n >= 3 vertex indices, got "
                     f"{content!r}")
  if min(idx) < 0 or max(idx) >= nv:
    raise ValueError(f"{path}: line {lineno}: expected vertex indices in [0, {nv - 1}], got "
                     f"{content!r}")
  return idx


def _ray_hits(triangles: np.ndarray, n: int, axis: int):
  """Intersections of the mesh with the n x n rays along ``axis`` through voxel-column centres.

  Args:
    triangles: (F, 3, 3) float64 in grid units (voxel i spans [i, i + 1)).
  Returns:
    (iu, iw, depth): (H,) column indices on the two other axes (in increasing axis order) and
    (H,) the hit coordinate along ``axis``, one entry per (triangle, ray) hit.
  """
  u, w = [a for a in range(3) if a != axis]
  p = triangles[:, :, [u, w]]
  # Columns whose centre (i + 0.5) lies inside each triangle's projected bounding box.
  lo = np.clip(np.ceil(p.min(axis=1) - 0.5), 0, n).astype(np.int64)
  hi = np.clip(np.floor(p.max(axis=1) - 0.5), -1, n - 1).astype(np.int64)
  size = np.maximum(hi - lo + 1, 0)
  per_tri = size[:, 0] * size[:, 1]
  tri = np.repeat(np.arange(len(p)), per_tri)
  offset = np.arange(per_tri.sum()) - np.repeat(np.cumsum(per_tri) - per_tri, per_tri)
  iu = lo[tri, 0] + offset // size[tri, 1]
  iw = lo[tri, 1] + offset % size[tri, 1]
  q = np.stack([iu, iw], axis=1) + 0.5
  a, b, c = p[tri, 0], p[tri, 1], p[tri, 2]

  def cross(o, x, y):
    return (x[:, 0] - o[:, 0]) * (y[:, 1] - o[:, 1]) - (x[:, 1] - o[:, 1]) * (y[:, 0] - o[:, 0])

  area = cross(a, b, c)
  l0, l1, l2 = cross(b, c, q), cross(c, a, q), cross(a, b, q)
  sign = np.sign(area)
  inside = (area != 0) & (l0 * sign >= 0) & (l1 * sign >= 0) & (l2 * sign >= 0)
  t = tri[inside]
  weights = np.stack([l0[inside], l1[inside], l2[inside]], axis=1) / area[inside, None]
  depth = np.einsum("hk,hk->h", weights, triangles[t, :, axis])
  return iu[inside], iw[inside], depth


def _carve(triangles: np.ndarray, n: int) -> np.ndarray:
  """(n, n, n) bool: voxels whose centre lies between the first and last hit on all 3 axes."""
  centres = np.arange(n) + 0.5
  occupied = np.ones((n, n, n), bool)
  for axis in range(3):
    iu, iw, depth = _ray_hits(triangles, n, axis)
    first = np.full((n, n), np.inf)
    last = np.full((n, n), -np.inf)
    np.minimum.at(first, (iu, iw), depth)
    np.maximum.at(last, (iu, iw), depth)
    between = (centres >= first[:, :, None]) & (centres <= last[:, :, None])  # [u, w, axis]
    order = [a for a in range(3) if a != axis] + [axis]
    occupied &= between.transpose(np.argsort(order))
  return occupied


def voxelize_mesh(vertices, faces, grid: int = 30, inner: int = 24, pad: int = 3,
                  supersample: int = 8) -> np.ndarray:
  """Voxelises a triangle mesh with the ModelNet / binvox convention (see the module docstring).

  Args:
    vertices: (V, 3) float, z vertical.
    faces: (F, 3) int indices into vertices, F >= 1.
    grid: output size; must equal inner + 2 * pad.
    inner: voxels spanned by the longest side of the mesh's bounding box.
    pad: empty voxels on every side.
    supersample: fine voxels per output voxel along each axis (8 reproduces
      modelnet10_vox30.npz); inner * supersample <= MAX_FINE.
  Returns:
    (grid, grid, grid) uint8 in {0, 1}, axis 2 vertical.

  NumPy, vectorised over triangles and rays; not jit-able (the number of ray hits is data
  dependent). Memory is about 3 (inner * supersample)^3 bytes.
  """
  vertices = np.asarray(vertices, np.float64)
  faces = np.asarray(faces)
  check_shape("vertices", vertices, (None, 3))
  check_finite("vertices", vertices)
  check_shape("faces", faces, (None, 3))
  grid = check_positive_int("grid", grid, maximum=MAX_FINE, hint="the output is grid^3 bytes")
  inner = check_positive_int("inner", inner)
  pad = check_positive_int("pad", pad, minimum=0)
  supersample = check_positive_int("supersample", supersample)
  if grid != inner + 2 * pad:
    raise ValueError(f"grid: expected inner + 2 * pad = {inner + 2 * pad}, got {grid}")
  if inner * supersample > MAX_FINE:
    raise ValueError(f"supersample: expected inner * supersample <= {MAX_FINE} fine voxels per "
                     f"side (memory about 3 (inner * supersample)^3 bytes), got {inner} * "
                     f"{supersample} = {inner * supersample}")
  if faces.size == 0 or faces.dtype.kind not in "iu":
    raise ValueError(f"faces: expected a non-empty integer array, got {faces.dtype} with shape "
                     f"{faces.shape}")
  if faces.min() < 0 or faces.max() >= len(vertices):
    raise ValueError(f"faces: expected indices in [0, {len(vertices) - 1}], got "
                     f"[{faces.min()}, {faces.max()}]")
  used = vertices[np.unique(faces)]
  low, high = used.min(axis=0), used.max(axis=0)
  extent = float((high - low).max())
  if extent <= 0:
    raise ValueError(f"vertices: expected a mesh with a non-zero extent, got all faces at "
                     f"{low.tolist()}")
  fine = inner * supersample
  scaled = (vertices - (low + high) / 2) * (fine / extent) + fine / 2
  occupied = _carve(scaled[faces], fine)
  coarse = occupied.reshape(inner, supersample, inner, supersample, inner, supersample)
  out = np.zeros((grid, grid, grid), np.uint8)
  out[pad:pad + inner, pad:pad + inner, pad:pad + inner] = coarse.any(axis=(1, 3, 5))
  return out
