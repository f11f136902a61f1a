"""Bad input to the renderer raises errors naming the argument; out-of-range depth is clamped."""
import numpy as np
import pytest

from inverse3d.render import depth_to_normals, render_mesh, render_view, shade

B, H, W = 2, 6, 7
DEPTH = np.ones((B, H, W), np.float32)
IMAGE = np.full((B, H, W, 3), 0.5, np.float32)
VIEW = np.zeros((B, 6), np.float32)
NORMALS = np.tile(np.array([0, 0, 1], np.float32), (B, H, W, 1))
LIGHT = np.array([[0.5, 0.5, 0, 0]] * B, np.float32)


def with_nan(x):
  x = np.array(x)
  x.flat[3] = np.nan
  return x


@pytest.mark.parametrize("call,pattern", [
    (lambda: depth_to_normals(DEPTH[0]), r"depth: expected shape \(B, H, W\), got \(6, 7\)"),
    (lambda: depth_to_normals(DEPTH[:, :1]), r"depth: expected H, W >= 2"),
    (lambda: depth_to_normals(with_nan(DEPTH)), r"depth: expected finite values"),
    (lambda: depth_to_normals(DEPTH, fov_deg=0.0), r"fov_deg: expected values in \(0.0, 180.0\)"),
    (lambda: depth_to_normals(DEPTH, fov_deg=180.0), r"fov_deg: expected values in \(0.0, 180"),
    (lambda: shade(NORMALS[..., :2], IMAGE, LIGHT), r"normals: expected shape \(B, H, W, 3\)"),
    (lambda: shade(NORMALS, IMAGE[:1], LIGHT), r"albedo: expected shape \(2, 6, 7, \?\)"),
    (lambda: shade(NORMALS, IMAGE, LIGHT[:, :3]), r"light: expected shape \(2, 4\), got \(2, 3\)"),
    (lambda: shade(NORMALS, IMAGE, LIGHT[0]), r"light: expected shape \(2, 4\), got \(4,\)"),
    (lambda: shade(NORMALS, IMAGE + 1, LIGHT), r"albedo: expected values in \[0.0, 1.0\]"),
    (lambda: shade(NORMALS, IMAGE, with_nan(LIGHT)), r"light: expected finite values"),
    (lambda: shade(with_nan(NORMALS), IMAGE, LIGHT), r"normals: expected finite values"),
    (lambda: render_view(DEPTH, IMAGE[..., 0], VIEW), r"image: expected shape \(2, 6, 7, \?\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW[:, :3]),
     r"view: expected shape \(2, 6\), got \(2, 3\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW[:1]), r"view: expected shape \(2, 6\), got \(1, 6\)"),
    (lambda: render_view(DEPTH[..., None], IMAGE, VIEW), r"depth: expected shape \(B, H, W\)"),
    (lambda: render_view(DEPTH, IMAGE, with_nan(VIEW)), r"view: expected finite values"),
    (lambda: render_view(DEPTH, with_nan(IMAGE), VIEW), r"image: expected finite values"),
    (lambda: render_view(with_nan(DEPTH), IMAGE, VIEW), r"depth: expected finite values"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=-5), r"fov_deg: expected values in \(0"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=np.nan), r"fov_deg: expected values in"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, mask="fuzzy"), r"mask: expected one of \['hard'"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, capacity=0), r"capacity: expected values in \(0"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, mask="soft", soft_sigma=0),
     r"soft_sigma: expected values in \(0"),
    (lambda: render_mesh(np.zeros((1, 3, 3)), [[0, 1, 5]], np.zeros((1, 3, 1)), 4, 4),
     r"triangles: expected integer indices in \[0, 2\]"),
    (lambda: render_mesh(np.zeros((1, 3, 3)), [[0, 1, 2]], np.zeros((1, 4, 1)), 4, 4),
     r"colours: expected shape \(1, 3, \?\), got \(1, 4, 1\)"),
])
def test_bad_input_names_the_argument(call, pattern):
  with pytest.raises(ValueError, match=pattern):
    call()


def test_depth_outside_the_range_is_clamped_not_nan():
  wild = np.array(DEPTH)
  wild[0, 0, :3] = [-5.0, 0.0, 7.0]
  wild[1] = 50.0
  clamped = np.clip(wild, 0.9, 1.1)
  np.testing.assert_allclose(depth_to_normals(wild), depth_to_normals(clamped))
  for a, b in zip(render_view(wild, IMAGE, VIEW + 0.1), render_view(clamped, IMAGE, VIEW + 0.1)):
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b)
  _, depth, _ = render_view(wild, IMAGE, VIEW)
  np.testing.assert_allclose(depth, clamped, atol=1e-6)
