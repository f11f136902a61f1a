"""render_view and render_mesh against analytic cases and a float64 NumPy ray caster."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inverse3d.render import focal_length, grid_triangles, render_mesh, render_view, unproject

H, W = 12, 16


def smooth_depth(batch, height=H, width=W, amplitude=0.03, seed=0):
  v, u = np.mgrid[0:height, 0:width] / max(height, width)
  phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, (batch, 2))
  return (1.0 + amplitude * np.sin(5 * u + phases[:, :1, None]) *
          np.cos(4 * v + phases[:, 1:, None])).astype(np.float32)


def random_image(batch, channels=3, height=H, width=W, seed=1):
  return np.random.default_rng(seed).uniform(size=(batch, height, width, channels)).astype(
      np.float32)


def bilinear(image, u, v):
  """float64 bilinear sampling with border clamping (reference)."""
  height, width = image.shape[:2]
  u, v = np.clip(u, 0, width - 1), np.clip(v, 0, height - 1)
  u0, v0 = np.minimum(np.floor(u), width - 2).astype(int), np.minimum(np.floor(v),
                                                                         height - 2).astype(int)
  fu, fv = (u - u0)[..., None], (v - v0)[..., None]
  return ((image[v0, u0] * (1 - fu) + image[v0, u0 + 1] * fu) * (1 - fv) +
          (image[v0 + 1, u0] * (1 - fu) + image[v0 + 1, u0 + 1] * fu) * fv)


def ray_cast(vertices, triangles, height, width, fov_deg=10.0):
  """Brute-force float64 ray casting of every pixel centre against every triangle.

  Returns (hit depth (H, W) with inf for none, barycentrics (H, W, 3), triangle (H, W)).
  """
  f = 0.5 * (width - 1) / np.tan(np.deg2rad(fov_deg) / 2)
  v, u = np.mgrid[0:height, 0:width].astype(np.float64)
  rays = np.stack([(u - (width - 1) / 2) / f, -(v - (height - 1) / 2) / f, -np.ones_like(u)],
                  -1).reshape(-1, 1, 3)
  a, b, c = (vertices[triangles[:, i]][None] for i in range(3))   # (1, T, 3)
  e1, e2 = b - a, c - a
  p = np.cross(rays, e2)
  det = (e1 * p).sum(-1)
  ok = np.abs(det) > 1e-14
  inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
  s = -a                                                           # ray origin is 0
  beta = (s * p).sum(-1) * inv
  q = np.cross(s, e1)
  gamma = (rays * q).sum(-1) * inv
  t = (e2 * q).sum(-1) * inv                                       # depth, since ray z = -1
  tol = 1e-9
  inside = ok & (beta >= -tol) & (gamma >= -tol) & (beta + gamma <= 1 + tol) & (t > 0)
  t = np.where(inside, t, np.inf)
  best = np.argmin(t, 1)
  rows = np.arange(t.shape[0])
  weights = np.stack([1 - beta - gamma, beta, gamma], -1)[rows, best]
  return (t[rows, best].reshape(height, width), weights.reshape(height, width, 3),
          best.reshape(height, width))


def reference_render_view(depth, image, view, fov_deg=10.0):
  """float64 ray-cast reference of render_view for one image (mask, image, depth)."""
  height, width = depth.shape
  rays = np.asarray(unproject(np.ones((height, width), np.float32), fov_deg), np.float64)
  canonical = rays * np.clip(depth.astype(np.float64), 0.9, 1.1)[..., None]
  R = Rotation.from_euler("xyz", view[:3].astype(np.float64)).as_matrix()
  centre = np.array([0, 0, -1.0])
  moved = (canonical.reshape(-1, 3) - centre) @ R.T + centre + view[3:].astype(np.float64)
  triangles = grid_triangles(height, width)
  hit, weights, best = ray_cast(moved, triangles, height, width, fov_deg)
  seen = (weights[..., None] * canonical.reshape(-1, 3)[triangles[best]]).sum(-2)
  f = 0.5 * (width - 1) / np.tan(np.deg2rad(fov_deg) / 2)
  su = (width - 1) / 2 + f * seen[..., 0] / -seen[..., 2]
  sv = (height - 1) / 2 - f * seen[..., 1] / -seen[..., 2]
  mask = np.isfinite(hit)
  return mask, bilinear(image.astype(np.float64), su, sv) * mask[..., None], hit


def test_identity_view_returns_the_inputs():
  depth, image = smooth_depth(2), random_image(2)
  for mode in ("hard", "soft"):
    out, out_depth, mask = render_view(depth, image, np.zeros((2, 6), np.float32), mask=mode)
    np.testing.assert_array_equal(mask, 1.0)
    np.testing.assert_allclose(out, image, atol=1e-5)
    np.testing.assert_allclose(out_depth, depth, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_a_float64_ray_caster(seed):
  rng = np.random.default_rng(seed)
  depth, image = smooth_depth(2, amplitude=0.05, seed=seed), random_image(2, seed=seed)
  view = np.concatenate([rng.uniform(-0.5, 0.5, (2, 3)), rng.uniform(-0.01, 0.01, (2, 3))],
                        1).astype(np.float32)
  out, out_depth, mask = (np.asarray(x) for x in render_view(depth, image, view))
  for i in range(2):
    ref_mask, ref_image, ref_depth = reference_render_view(depth[i], image[i], view[i])
    assert ref_mask.mean() > 0.5
    np.testing.assert_array_equal(mask[i], ref_mask)
    np.testing.assert_allclose(out[i], ref_image, atol=2e-4)
    np.testing.assert_allclose(out_depth[i][ref_mask], ref_depth[ref_mask], atol=2e-5)


def cap_on_background(height=H, width=W):
  """A spherical cap rising from a plane at the far limit: steep walls at its rim."""
  v, u = np.mgrid[0:height, 0:width]
  r2 = ((u - (width - 1) / 2) / (0.4 * width))**2 + ((v - (height - 1) / 2) / (0.4 * height))**2
  return np.where(r2 < 1, 1.1 - 0.15 * np.sqrt(np.clip(1 - r2, 0, 1)), 1.1).astype(np.float32)


def test_steep_walls_turned_towards_the_camera_are_drawn_whole():
  depth, image = np.stack([cap_on_background()] * 2), random_image(2)
  view = np.array([[0.1, np.deg2rad(30), 0, 0, 0, 0], [0, np.deg2rad(-60), 0.2, 0, 0, 0]],
                  np.float32)
  out, out_depth, mask = (np.asarray(x) for x in render_view(depth, image, view))
  for i in range(2):
    ref_mask, ref_image, ref_depth = reference_render_view(depth[i], image[i], view[i])
    np.testing.assert_array_equal(mask[i], ref_mask)
    np.testing.assert_allclose(out[i], ref_image, atol=2e-4)
    np.testing.assert_allclose(out_depth[i][ref_mask], ref_depth[ref_mask], atol=2e-5)


def test_a_known_translation_moves_the_image_by_the_projected_amount():
  plane, image = np.full((2, H, W), 1.0, np.float32), random_image(2)
  f = float(focal_length(W))
  views = np.array([[0, 0, 0, 2 / f, 0, 0], [0, 0, 0, 0, 3 / f, 0]], np.float32)
  out, out_depth, mask = render_view(plane, image, views)
  np.testing.assert_allclose(out[0, :, 2:], image[0, :, :-2], atol=1e-5)  # tx > 0: 2 px right
  np.testing.assert_array_equal(mask[0, :, :2], 0)
  np.testing.assert_array_equal(mask[0, :, 2:], 1)
  np.testing.assert_allclose(out_depth[0, :, 2:], 1.0, atol=1e-6)
  np.testing.assert_allclose(out[1, :-3], image[1, 3:], atol=1e-5)      # ty > 0: 3 px up
  np.testing.assert_array_equal(mask[1, -3:], 0)
  # tz brings the plane nearer: it magnifies by d / (d - tz) about the principal point.
  ramp = np.broadcast_to(np.linspace(0, 1, W, dtype=np.float32)[None, None, :, None],
                         (2, H, W, 3))
  out, out_depth, mask = render_view(plane, ramp, np.array([[0, 0, 0, 0, 0, 0.05]] * 2,
                                                           np.float32))
  source = (W - 1) / 2 + (np.arange(W) - (W - 1) / 2) * 0.95
  np.testing.assert_array_equal(mask, 1.0)
  np.testing.assert_allclose(out[..., 0], np.broadcast_to(source / (W - 1), (2, H, W)),
                             atol=1e-5)
  np.testing.assert_allclose(out_depth, 0.95, atol=1e-6)


def inverse_view(view):
  """float64 view whose motion undoes ``view`` (p = R^T (p' - c - t) + c)."""
  R = Rotation.from_euler("xyz", view[:3].astype(np.float64)).as_matrix()
  angles = Rotation.from_matrix(R.T).as_euler("xyz")
  return np.concatenate([angles, -R.T @ view[3:].astype(np.float64)])


def tilted_plane(batch):
  v, u = np.mgrid[0:H, 0:W]
  return np.broadcast_to(1.0 + 0.004 * (u - W / 2) - 0.003 * (v - H / 2),
                         (batch, H, W)).astype(np.float32)


# A plane is drawn exactly by its triangles, so only rounding and the resampling of the image
# remain; a curved surface adds the error of its piecewise-planar mesh.
@pytest.mark.parametrize("surface,depth_tol,image_tol",
                         [("plane", 2e-5, 3e-4), ("curved", 1e-3, 2e-3)])
def test_a_view_and_its_inverse_round_trip(surface, depth_tol, image_tol):
  depth = tilted_plane(2) if surface == "plane" else smooth_depth(2, amplitude=0.02)
  v, u = np.mgrid[0:H, 0:W]
  image = np.stack([u / W, v / H, 0.5 + 0.3 * (u / W) * (v / H)], -1)[None].repeat(2, 0)
  views = np.array([[0.1, -0.2, 0.15, 0.004, -0.003, 0.01],
                    [-0.25, 0.1, -0.05, -0.005, 0.002, -0.02]], np.float32)
  back = np.stack([inverse_view(x) for x in views]).astype(np.float32)
  moved, moved_depth, moved_mask = render_view(depth, image.astype(np.float32), views)
  again, again_depth, again_mask = render_view(moved_depth, moved, back)
  # Compare where the round trip only ever used pixels covered in the moved view.
  support, _, _ = render_view(moved_depth, np.repeat(np.asarray(moved_mask)[..., None], 3, -1),
                              back)
  keep = np.asarray(again_mask) * np.asarray(support)[..., 0] > 1 - 1e-6
  assert keep.mean() > 0.6
  np.testing.assert_allclose(np.asarray(again)[keep], image[keep], atol=image_tol)
  np.testing.assert_allclose(np.asarray(again_depth)[keep], depth[keep], atol=depth_tol)


def box_tests(vertices, triangles, height, width, fov_deg=10.0):
  """Pixel centres in each triangle's screen bounding box, clipped to the image (numpy)."""
  f = 0.5 * (width - 1) / np.tan(np.deg2rad(fov_deg) / 2)
  u = (width - 1) / 2 + f * vertices[:, 0] / -vertices[:, 2]
  v = (height - 1) / 2 - f * vertices[:, 1] / -vertices[:, 2]
  xy = np.stack([u, v], -1)[triangles]
  low = np.maximum(np.ceil(xy.min(1) - 1e-3), 0)
  high = np.minimum(np.floor(xy.max(1) + 1e-3), [width - 1, height - 1])
  extent = np.clip(high - low + 1, 0, None)
  return extent[:, 0] * extent[:, 1]


def test_over_budget_the_largest_triangles_are_left_out_first():
  depth = np.full((2, H, W), 1.1, np.float32)
  depth[:, :, W // 2:] = 0.92                     # a step: its quads become long sheets
  image = random_image(2)
  view = np.array([[0, 0.3, 0, 0, 0, 0]] * 2, np.float32)
  rays = np.asarray(unproject(np.ones((H, W), np.float32)), np.float64)
  R = Rotation.from_euler("xyz", view[0, :3].astype(np.float64)).as_matrix()
  centre = np.array([0, 0, -1.0])
  moved = (rays.reshape(-1, 3) * depth[0].reshape(-1, 1) - centre) @ R.T + centre
  triangles = grid_triangles(H, W)
  tests = box_tests(moved, triangles, H, W)
  column = triangles % W
  sheet = (column.min(1) < W // 2) & (column.max(1) >= W // 2)
  assert tests[~sheet].max() < tests[sheet].min()  # the sheets have the largest boxes
  # A budget (shared by the two identical images) that holds every other triangle but no
  # sheet: exactly the mesh without its sheets.
  _, _, tight = render_view(depth, image, view, capacity=tests[~sheet].sum() / (H * W))
  hit, _, _ = ray_cast(moved, triangles[~sheet], H, W)
  np.testing.assert_array_equal(tight, np.broadcast_to(np.isfinite(hit), (2, H, W)))
  # The default budget draws the sheets too, as the ray caster does with every triangle.
  _, out_depth, everything = render_view(depth, image, view)
  ref_mask, _, ref_depth = reference_render_view(depth[0], image[0], view[0])
  np.testing.assert_array_equal(everything[0], ref_mask)
  np.testing.assert_allclose(np.asarray(out_depth[0])[ref_mask], ref_depth[ref_mask], atol=1e-5)
  assert (np.asarray(everything) > np.asarray(tight)).sum() >= H   # the sheets' pixels


def test_soft_mask_equals_the_hard_mask_inside_and_falls_off_outside():
  depth, image = smooth_depth(2), random_image(2)
  view = np.array([[0.05, 0.3, 0.1, 0.003, 0.002, 0], [-0.2, 0, 0, 0, 0.004, 0.01]], np.float32)
  out_h, depth_h, hard = (np.asarray(x) for x in render_view(depth, image, view))
  out_s, depth_s, soft = (np.asarray(x) for x in render_view(depth, image, view, mask="soft"))
  np.testing.assert_array_equal(out_h, out_s)
  np.testing.assert_array_equal(depth_h, depth_s)
  np.testing.assert_array_equal(soft[hard == 1], 1.0)
  outside = soft[hard == 0]
  assert outside.size > 0 and np.all((outside >= 0) & (outside < 1))
  assert np.any(outside > 0.3)


def test_jit_and_vmap_of_render_view_agree_with_the_eager_call():
  depth, image = smooth_depth(2), random_image(2)
  view = np.array([[0.1, 0.2, 0, 0, 0, 0.01], [0, -0.2, 0.1, 0.002, 0, 0]], np.float32)
  eager = render_view(depth, image, view)
  jitted = jax.jit(render_view)(depth, image, view)
  mapped = jax.vmap(lambda d, i, v: render_view(d[None], i[None], v[None]))(depth, image, view)
  for a, b, c in zip(eager, jitted, mapped):
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a, c[:, 0], atol=1e-5)


def test_render_mesh_of_a_depth_grid_reproduces_depth_and_colours():
  depth, image = smooth_depth(2), random_image(2, channels=2)
  vertices = jnp.asarray(unproject(depth)).reshape(2, -1, 3)
  out, out_depth, mask = render_mesh(vertices, grid_triangles(H, W), image.reshape(2, -1, 2),
                                     H, W)
  np.testing.assert_array_equal(mask, 1.0)
  np.testing.assert_allclose(out, image, atol=1e-5)
  np.testing.assert_allclose(out_depth, depth, atol=1e-5)


def test_render_mesh_of_a_cube_matches_the_ray_caster():
  corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
  faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                    [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
  R = Rotation.from_euler("xyz", [0.4, 0.7, 0.1]).as_matrix()
  vertices = corners @ R.T * 0.03 + np.array([0, 0, -1.0])
  colours = np.random.default_rng(4).uniform(size=(8, 3))
  out, out_depth, mask = (np.asarray(x)[0] for x in render_mesh(
      vertices[None].astype(np.float32), faces, colours[None].astype(np.float32), 24, 24,
      background_depth=5.0))
  hit, weights, best = ray_cast(vertices, faces, 24, 24)
  covered = np.isfinite(hit)
  assert 0.1 < covered.mean() < 0.9
  np.testing.assert_array_equal(mask, covered)
  np.testing.assert_allclose(out_depth[covered], hit[covered], atol=1e-5)
  np.testing.assert_array_equal(out_depth[~covered], 5.0)
  expected = (weights[..., None] * colours[faces[best]]).sum(-2)
  np.testing.assert_allclose(out[covered], expected[covered], atol=1e-4)
