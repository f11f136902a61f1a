"""SIDE and MAD (inverse3d.eval) against an independent NumPy float64 implementation.

The reference below is written from the protocol's definition alone: its own erosion (a pixel
is kept when its whole 3x3 neighbourhood lies inside the image and the mask), its own normals
(the cross product of central differences of the unprojected depth) and the arccos of the dot
product. The surfaces are analytic: planes (whose normals are exact, so MAD against a
fronto-parallel plane is the tilt), sphere caps, and a depth scaled by a constant.
"""
import jax
import numpy as np
import pytest

from inverse3d import eval as ev

H = W = 24
FOV = 10.0


def rays(h=H, w=W, fov=FOV):
  """(h, w, 3) directions r with depth d at the point d * r (r_z = -1), float64."""
  f = 0.5 * (w - 1) / np.tan(np.deg2rad(fov) / 2)
  v, u = np.mgrid[0:h, 0:w].astype(np.float64)
  return np.stack([(u - (w - 1) / 2) / f, -(v - (h - 1) / 2) / f, -np.ones((h, w))], -1)


def plane(normal, through=(0.0, 0.0, -1.0)):
  """Depth of the plane with ``normal`` through the point ``through``."""
  n, p = np.asarray(normal, np.float64), np.asarray(through, np.float64)
  return (n @ p) / (rays() @ n)


def sphere(radius, centre_depth):
  """Depth of the near side of a sphere centred on the optical axis."""
  r, c = rays(), np.array([0.0, 0.0, -centre_depth])
  a, b = np.sum(r * r, -1), -2 * (r @ c)
  disc = np.maximum(b * b - 4 * a * (c @ c - radius ** 2), 0.0)
  return (-b - np.sqrt(disc)) / (2 * a)


def ref_erode(mask):
  out = np.zeros(mask.shape, bool)
  for b in range(mask.shape[0]):
    for i in range(1, mask.shape[1] - 1):
      for j in range(1, mask.shape[2] - 1):
        out[b, i, j] = mask[b, i - 1:i + 2, j - 1:j + 2].all()
  return out


def ref_normals(depth, fov=FOV):
  """Central-difference normals of the unprojected depth (interior pixels; the border is
  eroded away and never read)."""
  points = depth[..., None] * rays(*depth.shape[1:], fov)
  du = np.zeros_like(points)
  dv = np.zeros_like(points)
  du[:, :, 1:-1] = points[:, :, 2:] - points[:, :, :-2]
  dv[:, 1:-1] = points[:, 2:] - points[:, :-2]
  n = np.cross(dv, du)
  return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-300)


def ref_side(depth, gt, mask):
  m = ref_erode(np.asarray(mask) > 0.5)
  out = []
  for b in range(len(depth)):
    e = (np.log(depth[b]) - np.log(gt[b]))[m[b]]
    out.append(np.sqrt(np.mean((e - e.mean()) ** 2)))
  return np.array(out)


def ref_mad(depth, gt, mask, fov=FOV):
  m = ref_erode(np.asarray(mask) > 0.5)
  cos = np.sum(ref_normals(depth, fov) * ref_normals(gt, fov), -1)
  angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
  return np.array([angle[b][m[b]].mean() for b in range(len(depth))])


def disc_mask(radius=8.0):
  v, u = np.mgrid[0:H, 0:W]
  return ((u - (W - 1) / 2) ** 2 + (v - (H - 1) / 2) ** 2 < radius ** 2)


@pytest.fixture(scope="module")
def surfaces():
  rng = np.random.default_rng(0)
  frontal = plane([0, 0, 1])
  cap = sphere(0.3, 1.25)
  bumpy = cap * np.exp(0.01 * rng.standard_normal((H, W)))
  tilted = plane([np.sin(np.deg2rad(20)), 0, np.cos(np.deg2rad(20))])
  return dict(frontal=frontal, cap=cap, bumpy=bumpy, tilted=tilted)


def test_the_reference_surfaces_are_in_the_camera_range(surfaces):
  for name, d in surfaces.items():
    assert 0.9 <= d.min() and d.max() <= 1.1, name


@pytest.mark.parametrize("tilt, azimuth", [(10.0, 0.0), (25.0, 0.0), (30.0, 120.0)])
def test_mad_of_a_tilted_plane_against_a_fronto_parallel_one_is_the_tilt(tilt, azimuth):
  a, b = np.deg2rad(tilt), np.deg2rad(azimuth)
  depth = plane([np.sin(a) * np.cos(b), np.sin(a) * np.sin(b), np.cos(a)])[None]
  frontal = plane([0, 0, 1])[None]
  mask = np.ones((1, H, W))
  np.testing.assert_allclose(ev.mad(depth, frontal, mask), [tilt], atol=1e-2)
  np.testing.assert_allclose(ref_mad(depth, frontal, mask), [tilt], atol=1e-9)


def test_a_depth_scaled_by_a_constant_scores_zero(surfaces):
  gt = np.stack([surfaces["cap"], surfaces["bumpy"]])
  mask = np.stack([disc_mask(), np.ones((H, W), bool)])
  np.testing.assert_allclose(ev.side(1.04 * gt, gt, mask), 0.0, atol=1e-6)
  np.testing.assert_allclose(ev.mad(0.95 * gt, gt, mask), 0.0, atol=2e-2)


def test_batched_scores_match_the_float64_reference(surfaces):
  s = surfaces
  depth = np.stack([s["bumpy"], s["cap"], s["tilted"], s["bumpy"]])
  gt = np.stack([s["cap"], s["frontal"], s["cap"], s["tilted"]])
  mask = np.stack([disc_mask(), disc_mask(6.0), np.ones((H, W)), disc_mask(10.0)])
  np.testing.assert_allclose(ev.side(depth, gt, mask), ref_side(depth, gt, mask), rtol=1e-4,
                             atol=1e-7)
  np.testing.assert_allclose(ev.mad(depth, gt, mask), ref_mad(depth, gt, mask), atol=1e-2)
  assert ev.side(depth, gt, mask).shape == (4,) and ev.mad(depth, gt, mask).shape == (4,)
  assert ref_side(depth, gt, mask)[0] > 5e-3 and ref_mad(depth, gt, mask)[1] > 2.0


def test_depth_outside_the_mask_does_not_count(surfaces):
  gt, depth = surfaces["cap"][None], surfaces["bumpy"][None]
  mask = disc_mask()[None]
  spoiled = np.where(mask, depth, 3.0)  # far outside the camera range, off the mask only
  for metric in (ev.side, ev.mad):
    np.testing.assert_allclose(metric(spoiled, gt, mask), metric(depth, gt, mask), rtol=1e-6)


def test_the_mask_is_eroded_by_one_pixel(surfaces):
  # A bump on the mask's rim (inside it) is eroded away; one pixel further in, it counts.
  gt = surfaces["cap"][None]
  mask = np.zeros((1, H, W), bool)
  mask[:, 4:20, 4:20] = True
  rim, inner = gt.copy(), gt.copy()
  rim[:, 4, 10] *= 1.05
  inner[:, 6, 10] *= 1.05
  assert float(ev.side(rim, gt, mask)[0]) < 1e-6
  assert float(ev.side(inner, gt, mask)[0]) > 1e-3
  # The image border is background: a full mask loses its outermost pixels.
  full, border = np.ones((1, H, W)), gt.copy()
  border[:, 0, :] *= 1.05
  assert float(ev.side(border, gt, full)[0]) < 1e-6


def test_soft_masks_are_binarised_at_one_half(surfaces):
  gt, depth = surfaces["cap"][None], surfaces["bumpy"][None]
  soft = disc_mask()[None] * 0.8
  np.testing.assert_allclose(ev.side(depth, gt, soft), ev.side(depth, gt, soft > 0.5))


def test_the_metrics_are_jittable(surfaces):
  gt, depth, mask = surfaces["cap"][None], surfaces["bumpy"][None], disc_mask()[None]
  np.testing.assert_allclose(jax.jit(ev.side)(depth, gt, mask), ev.side(depth, gt, mask),
                             rtol=1e-6)


def test_mean_std():
  mean, std = ev.mean_std(np.array([1.0, 2.0, 3.0, 6.0]))
  assert mean == pytest.approx(3.0) and std == pytest.approx(np.std([1.0, 2, 3, 6]))
  with pytest.raises(ValueError, match="scores"):
    ev.mean_std(np.zeros((2, 2)))
  with pytest.raises(ValueError, match="scores"):
    ev.mean_std(np.array([1.0, np.nan]))
  with pytest.raises(ValueError, match="scores"):
    ev.mean_std(np.zeros(0))


def test_bad_input_errors(surfaces):
  gt = np.stack([surfaces["cap"]] * 2)
  mask = np.ones((2, H, W))
  with pytest.raises(ValueError, match=r"gt_depth: expected shape \(2, 24, 24\)"):
    ev.side(gt, gt[:, :-1], mask)
  with pytest.raises(ValueError, match="mask: expected shape"):
    ev.mad(gt, gt, mask[0])
  empty = mask.copy()
  empty[1] = 0
  with pytest.raises(ValueError, match=r"mask: expected a pixel left .*, got 1 of 2 .*indices \[1\]"):
    ev.side(gt, gt, empty)
  line = np.zeros_like(mask)
  line[:, 10, :] = 1  # one pixel wide: nothing survives the erosion
  with pytest.raises(ValueError, match="mask: expected a pixel left"):
    ev.mad(gt, gt, line)
  with pytest.raises(ValueError, match="depth: expected values in"):
    ev.side(-gt, gt, mask)
  with pytest.raises(ValueError, match="gt_depth: expected finite"):
    ev.mad(gt, np.where(mask > 0, np.nan, gt), mask)
  with pytest.raises(ValueError, match="fov_deg"):
    ev.mad(gt, gt, mask, fov_deg=180.0)
  with pytest.raises(ValueError, match="depth: expected"):
    ev.side(gt[:, :2, :2], gt[:, :2, :2], mask[:, :2, :2])
