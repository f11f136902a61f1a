"""Dataset image renderers: shapes, ranges, geometry, a float64 reference, bad inputs."""
import jax
import numpy as np
import pytest
from scipy import ndimage

from inverse3d.data.objects import procedural_objects
from inverse3d.data.views import (AMBIENT, DIFFUSE, FACE_FILL, FACE_YAWS, LIGHT,
                                  OBJECT_VIEW_ANGLES, VIEW_ELEVATION, VIEW_FIELD,
                                  render_face_views, render_voxel_views)
from inverse3d.render.raster import CAPACITY, interpolate, rasterize, required_capacity


@pytest.fixture(scope="module")
def objects():
  out = procedural_objects(jax.random.key(2), 10)
  return np.asarray(out["voxels"]), np.asarray(out["labels"])


def _lambert(normal, light=LIGHT):
  light = np.asarray(light, np.float64) / np.linalg.norm(light)
  return AMBIENT + DIFFUSE * max(0.0, float(np.dot(normal, light)))


def _reference_voxel_views(voxels, angles, size, elevation=VIEW_ELEVATION, light=LIGHT):
  """Brute force in float64: every pixel's ray against every occupied voxel's box (slab test);
  the nearest box wins, shaded by the face the ray enters through. (A, size, size)."""
  grid = voxels.shape[-1]
  occupied = np.argwhere(voxels).astype(np.float64)
  half = VIEW_FIELD * grid / 2
  s = (np.arange(size) + 0.5) * 2 * half / size - half
  out = np.zeros((len(angles), size, size))
  for a, angle in enumerate(np.deg2rad(angles)):
    e = np.deg2rad(elevation)
    toward = np.array([-np.sin(angle) * np.cos(e), -np.cos(angle) * np.cos(e), np.sin(e)])
    right = np.array([np.cos(angle), -np.sin(angle), 0.0])
    up = np.cross(toward, right)
    d = -toward
    origin = ((grid - 1) / 2 + s[None, :, None] * right - s[:, None, None] * up).reshape(-1, 3)
    lo, hi = occupied - 0.5, occupied + 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
      t1 = (lo[None] - origin[:, None]) / d
      t2 = (hi[None] - origin[:, None]) / d
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    for axis in np.flatnonzero(d == 0):
      inside = (origin[:, None, axis] >= lo[None, :, axis]) & (origin[:, None, axis] <= hi[:, axis])
      near[..., axis] = np.where(inside, -np.inf, np.inf)
      far[..., axis] = np.where(inside, np.inf, -np.inf)
    enter, leave = near.max(-1), far.min(-1)
    enter = np.where(enter < leave, enter, np.inf)
    first = np.argmin(enter, axis=1)
    hit = np.isfinite(enter[np.arange(len(origin)), first])
    axis = np.argmax(near[np.arange(len(origin)), first], axis=-1)
    l_world = np.asarray(light) @ np.stack([right, up, toward]) / np.linalg.norm(light)
    shade = AMBIENT + DIFFUSE * np.maximum(-np.sign(d[axis]) * l_world[axis], 0.0)
    out[a] = np.where(hit, shade, 0.0).reshape(size, size)
  return out


def test_voxel_views_shapes_and_range(objects):
  voxels, _ = objects
  images = np.asarray(render_voxel_views(voxels[:3], OBJECT_VIEW_ANGLES))
  assert images.shape == (3, 8, 32, 32) and images.dtype == np.float32
  assert images.min() == 0.0 and images.max() <= 1.0
  assert np.all((images == 0) | (images >= AMBIENT))
  assert len(OBJECT_VIEW_ANGLES) == 8 and all(0 <= a < 180 for a in OBJECT_VIEW_ANGLES)
  for shape_views in images:  # shaded, not flat silhouettes: several grey levels per shape
    assert all(len(np.unique(view[view > 0])) >= 2 for view in shape_views)
    assert len(np.unique(shape_views[shape_views > 0])) >= 4


def test_single_voxel_and_cube_land_where_expected():
  # Camera at azimuth 0, no elevation: looks along +y; image columns follow +x, rows -z.
  step = VIEW_FIELD * 30 / 32
  centres = (np.arange(32) + 0.5) * step - VIEW_FIELD * 15  # pixel centres, grid units
  voxel = np.zeros((1, 30, 30, 30), np.uint8)
  voxel[0, 20, 7, 9] = 1
  image = np.asarray(render_voxel_views(voxel, [0.0], elevation_deg=0.0))[0, 0]
  col = np.flatnonzero(np.abs(centres + 14.5 - 20) < 0.5)
  row = np.flatnonzero(np.abs(14.5 - centres - 9) < 0.5)
  expected = np.zeros((32, 32))
  expected[np.ix_(row, col)] = _lambert([0, 0, 1])  # the face towards the camera
  np.testing.assert_allclose(image, expected, atol=1e-6)

  cube = np.zeros((1, 30, 30, 30), np.uint8)
  cube[0, 10:20, 10:20, 10:20] = 1
  image = np.asarray(render_voxel_views(cube, [90.0], elevation_deg=0.0))[0, 0]
  inside = np.abs(centres) < 5  # the cube spans [9.5, 19.5], centred on the image
  np.testing.assert_allclose(image, np.where(inside[:, None] & inside[None], _lambert([0, 0, 1]),
                                             0.0), atol=1e-6)


def test_voxel_views_match_float64_reference(objects):
  voxels, _ = objects
  angles = (0.0, 33.0, 90.0, 157.5)
  got = np.asarray(render_voxel_views(voxels[:4], angles, size=24))
  for shape, image in zip(voxels[:4], got):
    want = _reference_voxel_views(shape, angles, 24)
    differ = np.abs(image - want) > 1e-5
    assert differ.mean() < 2e-3, differ.sum()  # at most a few rays grazing a voxel edge


def test_half_turn_mirrors(objects):
  voxels, _ = objects
  chair = voxels[list(objects[1]).index(2)][None]
  # Without elevation the view from the opposite side sees the silhouette mirrored.
  front, back = np.asarray(render_voxel_views(chair, [30.0, 210.0], elevation_deg=0.0))[0]
  np.testing.assert_array_equal(back > 0, (front > 0)[:, ::-1])
  assert not np.array_equal(front > 0, back > 0)  # the chair is not left-right symmetric
  # An L-shaped block, symmetric front to back, mirrors exactly under a symmetric light.
  block = np.zeros((1, 30, 30, 30), np.uint8)
  block[0, 6:12, 8:22, 4:24] = 1
  block[0, 12:24, 8:22, 4:10] = 1
  views = np.asarray(render_voxel_views(block, [0.0, 180.0], light=(0.0, 0.5, 1.0)))[0]
  np.testing.assert_allclose(views[1], views[0][:, ::-1], atol=1e-6)
  assert not np.array_equal(views[0], views[0][:, ::-1])
  # With elevation, turning the camera by 180 degrees equals turning the object.
  turned = np.asarray(render_voxel_views(chair[:, ::-1, ::-1], [30.0]))[0, 0]
  np.testing.assert_allclose(np.asarray(render_voxel_views(chair, [210.0]))[0, 0], turned,
                             atol=1e-6)


def test_voxel_views_reject_bad_input(objects):
  voxels, _ = objects
  with pytest.raises(ValueError, match=r"voxels: expected shape \(\?, G, G, G\), got \(30, "):
    render_voxel_views(voxels[0], OBJECT_VIEW_ANGLES)
  with pytest.raises(ValueError, match=r"voxels: expected values in \{0, 1\}, got 1 other"):
    bad = voxels[:1].copy()
    bad[0, 5, 5, 5] = 2
    render_voxel_views(bad, OBJECT_VIEW_ANGLES)
  with pytest.raises(ValueError, match="voxels: expected a bool or signed integer or unsigned "
                                       "integer or float array, got dtype complex64"):
    render_voxel_views(voxels[:1].astype(np.complex64), OBJECT_VIEW_ANGLES)
  with pytest.raises(ValueError, match="angles_deg: expected finite values"):
    render_voxel_views(voxels[:1], [0.0, np.nan])
  with pytest.raises(ValueError, match=r"size: expected an integer in \[1, 4096\], got 0"):
    render_voxel_views(voxels[:1], [0.0], size=0)
  # size=10**6 used to return at once and fail only when the images were used.
  with pytest.raises(ValueError, match=r"^size: expected an integer in \[1, 4096\], got 1000000 "
                                       r"\(memory grows as A \* size\^2 \* \(3 G \+ 2\)"):
    render_voxel_views(voxels[:1], [0.0], size=10 ** 6)
  with pytest.raises(ValueError, match="angles_deg: expected a signed .*got dtype complex64"):
    render_voxel_views(voxels[:1], np.zeros(2, np.complex64))
  with pytest.raises(ValueError, match="light: expected a signed .*got dtype complex128"):
    render_voxel_views(voxels[:1], [0.0], light=np.array([1, 0, 1j]))
  with pytest.raises(ValueError, match=r"elevation_deg: expected shape \(\), got \(2,\)"):
    render_voxel_views(voxels[:1], [0.0], elevation_deg=[10.0, 20.0])


def _dome(n=21):
  """A cap z = 0.6 sqrt(1 - r^2) over a disc: points (V, 3), triangles (T, 3), one mesh."""
  g = np.linspace(-1, 1, n)
  x, y = np.meshgrid(g, g)
  keep = x ** 2 + y ** 2 <= 1.0
  index = np.full(x.shape, -1)
  index[keep] = np.arange(keep.sum())
  x, y = x[keep], y[keep]
  points = np.stack([x, y, 0.6 * np.sqrt(np.maximum(1 - x ** 2 - y ** 2, 0))], -1)
  a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
  triangles = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                              np.stack([a, c, d], -1).reshape(-1, 3)])
  return points.astype(np.float32), triangles[np.all(triangles >= 0, axis=1)]


def test_face_views_shapes_and_range():
  points, triangles = _dome()
  points = np.stack([points, points * [1.0, 1.3, 0.8]])
  gray = np.linspace(0.2, 1.0, len(points[0]), dtype=np.float32)
  for albedo, tail in ((np.stack([gray, gray]), ()), (np.stack([gray, gray])[..., None], ()),
                       (np.stack([gray, gray])[..., None].repeat(3, -1), (3,))):
    images = np.asarray(render_face_views(points, albedo, FACE_YAWS, triangles=triangles))
    assert images.shape == (2, 3, 32, 32) + tail and images.dtype == np.float32
    assert images.min() == 0.0 and 0.5 < images.max() <= 1.0


def test_flat_square_shading_and_yaw_convention():
  corners = np.array([[[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]], np.float32)
  triangles = np.array([[0, 1, 2], [0, 2, 3]])
  albedo = np.ones((1, 4), np.float32)
  images = np.asarray(render_face_views(corners, albedo, FACE_YAWS, size=40,
                                        triangles=triangles))[0]
  for yaw, image in zip(np.deg2rad(FACE_YAWS), images):
    normal = [np.sin(yaw), 0.0, np.cos(yaw)]  # a positive yaw turns +z towards +x
    covered = image > 0
    np.testing.assert_allclose(image[covered], _lambert(normal), atol=1e-5)
    rows, cols = np.nonzero(covered)
    assert abs(rows.mean() - 19.5) < 0.6 and abs(cols.mean() - 19.5) < 0.6  # centred
    width = cols.max() - cols.min() + 1
    assert abs(width / (rows.max() - rows.min() + 1) - np.cos(yaw)) < 0.08
  flipped = render_face_views(corners, albedo, FACE_YAWS, size=40, triangles=triangles[:, ::-1])
  np.testing.assert_allclose(np.asarray(flipped)[0], images, atol=1e-6)  # two-sided


@pytest.mark.parametrize("with_triangles", [True, False])
def test_face_at_227_has_no_holes(with_triangles):
  points, triangles = _dome()
  colour = np.stack([np.full(len(points), v, np.float32) for v in (0.8, 0.6, 0.5)], -1)
  images = np.asarray(render_face_views(points[None], colour[None], FACE_YAWS, size=227,
                                        triangles=triangles if with_triangles else None))
  assert images.shape == (1, 3, 227, 227, 3)
  for image in images[0]:
    mask = image.max(-1) > 0
    assert mask.mean() > 0.3
    np.testing.assert_array_equal(ndimage.binary_fill_holes(mask), mask)
    np.testing.assert_allclose(image[mask][:, 1] / image[mask][:, 0], 0.75, rtol=1e-5)


def test_face_views_reject_bad_input():
  points, triangles = _dome()
  points, albedo = points[None], np.full((1, len(points)), 0.5, np.float32)
  with pytest.raises(ValueError, match="points: expected finite values, got 1 NaN"):
    bad = points.copy()
    bad[0, 3, 1] = np.nan
    render_face_views(bad, albedo, FACE_YAWS, triangles=triangles)
  with pytest.raises(ValueError, match=r"points: expected shape \(N, V, 3\), got \(1, \d+, 2\)"):
    render_face_views(points[..., :2], albedo, FACE_YAWS, triangles=triangles)
  with pytest.raises(ValueError, match="points: expected a float array, got dtype int64"):
    render_face_views(points.astype(np.int64), albedo, FACE_YAWS, triangles=triangles)
  with pytest.raises(ValueError, match=r"albedo: expected values in \[0.0, 1.0\]"):
    render_face_views(points, albedo * 3, FACE_YAWS, triangles=triangles)
  with pytest.raises(ValueError, match=r"albedo: expected shape \(N, V\), \(N, V, 1\) or"):
    render_face_views(points, np.repeat(albedo[..., None], 2, -1), FACE_YAWS,
                      triangles=triangles)
  with pytest.raises(ValueError, match=r"triangles: expected values in \[0, \d+\]"):
    render_face_views(points, albedo, FACE_YAWS, triangles=triangles + 1000)


def _reference_face_views(points, albedo, triangles, yaws, size):
  """Brute force in float64 for one face: every pixel centre against every triangle, the
  nearest covering one (largest z towards the viewer) wins. (A, size, size)."""
  points = np.asarray(points, np.float64)
  offset = points - (points.min(0) + points.max(0)) / 2
  rad = np.deg2rad(np.asarray(yaws, np.float64))
  across = np.abs(offset[:, 0, None] * np.cos(rad) + offset[:, 2, None] * np.sin(rad))
  pixels = offset * FACE_FILL * size / 2 / max(across.max(), np.abs(offset[:, 1]).max())
  light = np.asarray(LIGHT) / np.linalg.norm(LIGHT)
  row, col = np.mgrid[:size, :size]
  centre = np.stack([col.ravel() - size / 2 + 0.5, size / 2 - 0.5 - row.ravel()], -1)
  out = np.zeros((len(yaws), size * size))
  for a, t in enumerate(rad):
    view = pixels @ np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]]).T
    corner = view[triangles]  # (T, 3, 3)
    face = np.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0])
    normals = np.zeros_like(view)
    for k in range(3):
      np.add.at(normals, triangles[:, k], face)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    e1, e2 = corner[:, 1, :2] - corner[:, 0, :2], corner[:, 2, :2] - corner[:, 0, :2]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    p = centre[:, None, :] - corner[None, :, 0, :2]  # (P, T, 2)
    beta = (p[..., 0] * e2[:, 1] - p[..., 1] * e2[:, 0]) / area
    gamma = (e1[:, 0] * p[..., 1] - e1[:, 1] * p[..., 0]) / area
    w = np.stack([1 - beta - gamma, beta, gamma], -1)  # (P, T, 3)
    z = np.where(np.all(w >= -1e-9, -1), np.einsum("ptk,tk->pt", w, corner[..., 2]), -np.inf)
    best = np.argmax(z, 1)
    hit = np.isfinite(z[np.arange(len(z)), best])
    wb = w[np.arange(len(z)), best]
    n = np.einsum("pk,pkc->pc", wb, normals[triangles[best]])
    n *= np.where(n[:, 2:] < 0, -1.0, 1.0) / np.linalg.norm(n, axis=-1, keepdims=True)
    shade = AMBIENT + DIFFUSE * np.maximum(n @ light, 0.0)
    out[a] = np.where(hit, np.clip(np.einsum("pk,pk->p", wb, albedo[triangles[best]]) * shade,
                                   0, 1), 0.0)
  return out.reshape(len(yaws), size, size)


def test_face_views_match_float64_reference():
  points, triangles = _dome(13)
  rng = np.random.default_rng(0)
  bumpy = points + rng.normal(0, 0.05, points.shape).astype(np.float32)  # folds: occlusion
  albedo = rng.uniform(0.3, 1.0, len(points)).astype(np.float32)
  yaws = (-60.0, 0.0, 35.0)
  got = np.asarray(render_face_views(bumpy[None], albedo[None], yaws, size=24,
                                     triangles=triangles))[0]
  want = _reference_face_views(bumpy, albedo, triangles, yaws, 24)
  assert (want > 0).mean() > 0.3
  differ = np.abs(got - want) > 1e-4
  assert differ.mean() < 5e-3, differ.sum()  # at most a pixel centre on an edge


def test_orthographic_raster_with_per_image_triangles():
  # Triangles at random depths that overlap; each image has its own triangles.
  rng = np.random.default_rng(1)
  size, count = 16, 64
  screen = np.concatenate([rng.uniform(-2, size + 1, (2, 3 * count, 2)),
                           rng.uniform(1, 5, (2, 3 * count, 1))], -1).astype(np.float32)
  triangles = np.stack([rng.permutation(3 * count).reshape(count, 3) for _ in range(2)])
  draw = jax.jit(lambda s, t, capacity: rasterize(s, t, size, size, capacity, False),
                 static_argnums=2)
  capacity = float(required_capacity(screen, triangles, size, size))
  assert capacity > CAPACITY  # large triangles: the default budget would leave some out
  ids = draw(screen, triangles, capacity)
  weights, vertices, depth, mask = map(np.asarray, jax.jit(interpolate, static_argnums=3)(
      screen, triangles, ids, False))
  # Per-image triangles draw what the shared-triangle path draws, image by image.
  alone = max(float(required_capacity(screen[b:b + 1], triangles[b], size, size))
              for b in range(2))
  for b in range(2):
    np.testing.assert_array_equal(np.asarray(draw(screen[b:b + 1], triangles[b], alone))[0],
                                  np.asarray(ids)[b])
  # float64 reference: the smallest affinely interpolated depth among covering triangles.
  v, u = np.mgrid[:size, :size].astype(np.float64)
  for b in range(2):
    corner = screen[b].astype(np.float64)[triangles[b]]  # (T, 3, 3)
    e1, e2 = corner[:, 1, :2] - corner[:, 0, :2], corner[:, 2, :2] - corner[:, 0, :2]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    pu, pv = u[..., None] - corner[:, 0, 0], v[..., None] - corner[:, 0, 1]
    beta = (pu * e2[:, 1] - pv * e2[:, 0]) / area
    gamma = (e1[:, 0] * pv - e1[:, 1] * pu) / area
    w = np.stack([1 - beta - gamma, beta, gamma], -1)  # (H, W, T, 3)
    z = np.where(np.all(w >= 0, -1), np.einsum("hwtk,tk->hwt", w, corner[..., 2]), np.inf)
    clear = np.all(np.abs(w) > 1e-3, -1).all(-1)  # no pixel centre on an edge
    np.testing.assert_array_equal(mask[b][clear], np.isfinite(z.min(-1))[clear])
    covered = clear & mask[b]
    np.testing.assert_allclose(depth[b][covered], z.min(-1)[covered], rtol=1e-5)
    # Screen-space barycentrics: they reproduce the pixel centre.
    at = np.einsum("hwk,hwkc->hwc", weights[b], screen[b][vertices[b], :2])
    np.testing.assert_allclose(at[mask[b]], np.stack([u, v], -1)[mask[b]], atol=1e-3)


def test_face_view_size_is_checked_before_any_work():
  points, triangles = _dome(5)
  with pytest.raises(ValueError, match=r"^size: expected an integer in \[1, 4096\], got 1000000 "
                                       r"\(the rasteriser's pixel tests grow as N \* A \* size"):
    render_face_views(points[None], np.full((1, len(points)), 0.5), FACE_YAWS, size=10 ** 6,
                      triangles=triangles)
  with pytest.raises(ValueError, match="yaws_deg: expected a signed .*got dtype complex64"):
    render_face_views(points[None], np.full((1, len(points)), 0.5),
                      np.zeros(3, np.complex64), triangles=triangles)


def test_voxel_views_of_device_arrays_make_no_host_reads(objects, count_host_reads):
  import jax.numpy as jnp
  voxels = jnp.asarray(objects[0][:2])
  angles = jnp.asarray(OBJECT_VIEW_ANGLES[:2])
  images = render_voxel_views(voxels, angles, size=8)
  assert count_host_reads.count == 0, count_host_reads.sites
  assert images.shape == (2, 2, 8, 8)
