"""Camera, normals, shading and view transforms against analytic float64 references."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inverse3d.render import (depth_to_normals, focal_length, light_direction, project,
                              rotation_matrix, shade, transform_points, unproject)

H, W = 12, 16


def rays(height, width, fov_deg=10.0):
  """(H, W, 3) float64 rays through the pixel centres, z component -1 (viewer frame)."""
  f = 0.5 * (width - 1) / np.tan(np.deg2rad(fov_deg) / 2)
  v, u = np.mgrid[0:height, 0:width].astype(np.float64)
  return np.stack([(u - (width - 1) / 2) / f, -(v - (height - 1) / 2) / f, -np.ones_like(u)], -1)


def sphere_depth(height, width, radius=0.07, centre_depth=1.0, background=1.1):
  """Depth of a sphere centred on the optical axis (ray casting), and its exact normals."""
  r = rays(height, width)
  c = np.array([0.0, 0.0, -centre_depth])
  a, b = (r * r).sum(-1), r @ c
  disc = b * b - a * (c @ c - radius**2)
  hit = disc > 0
  t = np.where(hit, (b - np.sqrt(np.where(hit, disc, 0))) / a, background)
  normals = (r * t[..., None] - c) / radius
  return t, normals, hit


def test_focal_length_spans_the_field_of_view():
  f = float(focal_length(64, 10.0))
  np.testing.assert_allclose(2 * np.degrees(np.arctan(31.5 / f)), 10.0, rtol=1e-6)


def test_unproject_then_project_returns_the_pixel_grid():
  depth = np.random.default_rng(0).uniform(0.9, 1.1, (2, H, W)).astype(np.float32)
  points = unproject(depth, 30.0)
  u, v, d = project(points, H, W, 30.0)
  vv, uu = np.mgrid[0:H, 0:W]
  np.testing.assert_allclose(u, np.broadcast_to(uu, u.shape), atol=1e-4)
  np.testing.assert_allclose(v, np.broadcast_to(vv, v.shape), atol=1e-4)
  np.testing.assert_allclose(d, depth, rtol=1e-6)
  np.testing.assert_allclose(points, rays(H, W, 30.0)[None] * depth[..., None], rtol=1e-5,
                             atol=1e-7)


@pytest.mark.parametrize("normal", [(0.0, 0.0, 1.0), (0.3, -0.2, 0.9), (-0.4, 0.3, 0.85)])
def test_tilted_plane_has_its_exact_normal_everywhere(normal):
  n = np.asarray(normal) / np.linalg.norm(normal)
  anchor = np.array([0.0, 0.0, -1.0])
  depth = (n @ anchor) / (rays(H, W) @ n)          # ray parameter t = depth (ray z is -1)
  assert depth.min() > 0.9 and depth.max() < 1.1
  normals = np.asarray(depth_to_normals(depth[None].astype(np.float32)))
  np.testing.assert_allclose(normals[0], np.broadcast_to(n, (H, W, 3)), atol=2e-5)


def test_sphere_normals_and_shading_match_the_closed_form():
  depth, exact, hit = sphere_depth(64, 64)
  normals = np.asarray(depth_to_normals(depth[None].astype(np.float32)))[0]
  interior = hit & (exact[..., 2] > 0.5)
  # The 3x3 neighbourhood must lie on the sphere for central differences to be meaningful.
  interior &= np.all([np.roll(hit, s, a) for s in (-1, 1) for a in (0, 1)], 0)
  angle = np.degrees(np.arccos(np.clip((normals * exact).sum(-1), -1, 1)))
  assert angle[interior].max() < 0.5
  albedo = np.random.default_rng(1).uniform(0.2, 0.9, (1, 64, 64, 3))
  light = np.array([[0.3, 0.7, 0.4, -0.25]])
  direction = np.array([0.4, -0.25, 1.0]) / np.linalg.norm([0.4, -0.25, 1.0])
  closed = albedo[0] * (0.3 + 0.7 * np.maximum(exact @ direction, 0))[..., None]
  # Exact normals: shade is the closed form to float32 rounding, on and off the sphere.
  ours = np.asarray(shade(exact[None].astype(np.float32), albedo.astype(np.float32),
                          light.astype(np.float32)))[0]
  np.testing.assert_allclose(ours, closed, atol=2e-6)
  # Normals from the depth map: the closed form up to the central-difference error.
  from_depth = np.asarray(shade(normals[None], albedo.astype(np.float32),
                                light.astype(np.float32)))[0]
  np.testing.assert_allclose(from_depth[interior], closed[interior], atol=1e-2)


def test_head_on_light_and_its_direction_conventions():
  np.testing.assert_allclose(light_direction(np.zeros((1, 2), np.float32)), [[0, 0, 1]])
  depth, _, hit = sphere_depth(32, 32)
  normals = depth_to_normals(depth[None].astype(np.float32))
  ones = np.ones((1, 32, 32, 1), np.float32)
  right = np.asarray(shade(normals, ones, np.array([[0, 1, 2.0, 0]], np.float32)))[0, ..., 0]
  above = np.asarray(shade(normals, ones, np.array([[0, 1, 0, 2.0]], np.float32)))[0, ..., 0]
  assert right[16, 22] > right[16, 9] + 0.3     # dx > 0 lights the right side
  assert above[9, 16] > above[22, 16] + 0.3     # dy > 0 lights the top (row 0 is the top)
  flat = shade(np.tile(np.array([0, 0, 1.0], np.float32), (1, 4, 4, 1)),
               np.full((1, 4, 4, 2), 0.5, np.float32), np.array([[0.2, 0.6, 0, 0]], np.float32))
  np.testing.assert_allclose(flat, 0.5 * 0.8, rtol=1e-6)


def test_rotation_matrix_is_z_after_y_after_x():
  angles = np.random.default_rng(2).uniform(-1.5, 1.5, (5, 3))
  reference = Rotation.from_euler("xyz", angles).as_matrix()   # extrinsic x, then y, then z
  np.testing.assert_allclose(rotation_matrix(angles.astype(np.float32)), reference, atol=1e-6)


def test_transform_turns_about_the_rotation_centre_then_translates():
  view = np.array([[0.3, -0.5, 0.2, 0.01, -0.02, 0.03]], np.float32)
  centre = np.array([[[0.0, 0.0, -1.0]]], np.float32)
  np.testing.assert_allclose(transform_points(centre, view)[0, 0], [0.01, -0.02, -0.97],
                             atol=1e-6)
  points = np.random.default_rng(3).normal(size=(1, 7, 3))
  R = Rotation.from_euler("xyz", view[0, :3].astype(np.float64)).as_matrix()
  expected = (points - centre) @ R.T + centre + view[0, 3:].astype(np.float64)
  np.testing.assert_allclose(transform_points(points.astype(np.float32), view), expected,
                             atol=1e-5)
