"""The ellipsoid shape prior (inverse3d.gan2shape.prior): its geometry and its input checks."""
import jax
import numpy as np
import pytest

from inverse3d import gan2shape as g2s

H = W = 32
NEAR, FAR, RADIUS = 0.91, 1.02, 0.4


def box_mask(top, bottom, left, right, value=1.0):
  mask = np.zeros((H, W), np.float32)
  mask[top:bottom + 1, left:right + 1] = value
  return mask


def cap(rho):
  """The spherical cap's depth at normalised radius rho (independent of the module)."""
  base = np.sqrt(RADIUS ** 2 - (RADIUS - (FAR - NEAR)) ** 2)
  return NEAR + RADIUS - np.sqrt(RADIUS ** 2 - (rho * base) ** 2)


def test_the_box_of_a_mask():
  mask = np.stack([box_mask(8, 20, 9, 21), box_mask(3, 10, 12, 30)])
  mask[0, 14, 2] = 0.6  # below the 0.7 threshold: not in the box
  box = [np.asarray(b) for b in g2s.mask_box(mask)]
  np.testing.assert_array_equal(np.stack(box, 1), [[8, 20, 9, 21], [3, 10, 12, 30]])
  box = [np.asarray(b) for b in g2s.mask_box(mask, threshold=0.5)]
  assert box[2][0] == 2


def test_the_cap_sits_on_the_raised_box():
  # Rows 8..20 (height 12) raised by 12 / 6 = 2: rows 6..20, centre row 13; columns 9..21,
  # centre column 15; half sizes 7 (rows) and 6 (columns).
  depth = np.asarray(g2s.ellipsoid_depth(box_mask(8, 20, 9, 21)[None]))[0]
  assert depth.shape == (H, W) and depth.dtype == np.float32
  assert depth[13, 15] == pytest.approx(NEAR, abs=1e-6)
  assert np.unravel_index(depth.argmin(), depth.shape) == (13, 15)
  for row, col, rho in ((13, 18, 0.5), (13, 21, 1.0), (13, 9, 1.0), (20, 15, 1.0),
                        (6, 15, 1.0), (16, 17, np.hypot(3 / 7, 2 / 6))):
    assert depth[row, col] == pytest.approx(cap(rho), abs=1e-5), (row, col)
  # Far outside the ellipse: the box's corners, the rows below and above it.
  for row, col in ((8, 9), (20, 21), (25, 15), (2, 15), (0, 0)):
    assert depth[row, col] == pytest.approx(FAR), (row, col)
  # Inside the ellipse, depth grows away from the centre along the middle row.
  assert np.all(np.diff(depth[13, 15:22]) > 0) and np.all(np.diff(depth[13, 9:16]) < 0)


def test_raising_the_top_moves_the_cap_up():
  mask = box_mask(8, 20, 9, 21)[None]
  flat = np.asarray(g2s.ellipsoid_depth(mask, raise_top=0.0))[0]
  raised = np.asarray(g2s.ellipsoid_depth(mask))[0]
  assert np.unravel_index(flat.argmin(), flat.shape) == (14, 15)
  assert np.unravel_index(raised.argmin(), raised.shape) == (13, 15)
  assert flat[7, 15] == pytest.approx(FAR) and raised[7, 15] < FAR - 1e-3


def test_custom_depths_and_a_batch():
  mask = np.stack([box_mask(8, 20, 9, 21), box_mask(2, 29, 4, 27, value=0.9)])
  depth = np.asarray(g2s.ellipsoid_depth(mask, near=0.95, far=1.05, raise_top=0.0))
  assert depth.shape == (2, H, W)
  assert depth.min(axis=(1, 2)) == pytest.approx([0.95, 0.95], abs=2e-3)
  assert depth.max(axis=(1, 2)) == pytest.approx([1.05, 1.05])
  # Each image has its own box: the second, larger one is deeper-reaching.
  assert np.sum(depth[1] < 1.05) > 2 * np.sum(depth[0] < 1.05)


def test_it_runs_under_jit():
  mask = box_mask(8, 20, 9, 21)[None]
  np.testing.assert_allclose(jax.jit(g2s.ellipsoid_depth)(mask), g2s.ellipsoid_depth(mask))


def test_bad_input_errors():
  good = box_mask(8, 20, 9, 21)[None]
  with pytest.raises(ValueError, match=r"mask: expected a foreground pixel \(>= 0.7\)"):
    g2s.ellipsoid_depth(np.zeros((2, H, W)))
  with pytest.raises(ValueError, match=r"mask: expected a foreground .*indices \[1\]"):
    g2s.ellipsoid_depth(np.stack([good[0], np.full((H, W), 0.5)]))
  with pytest.raises(ValueError, match=r"mask: expected a background pixel \(< 0.7\)"):
    g2s.ellipsoid_depth(np.ones((1, H, W)))
  with pytest.raises(ValueError, match="mask: expected a foreground .* at least 2 pixels"):
    g2s.ellipsoid_depth(box_mask(8, 8, 9, 21)[None])
  with pytest.raises(ValueError, match=r"mask: expected shape \(B, H, W\)"):
    g2s.ellipsoid_depth(good[0])
  with pytest.raises(ValueError, match="mask: expected finite"):
    g2s.ellipsoid_depth(np.where(good > 0, np.nan, 0.0))
  with pytest.raises(ValueError, match="near, far: expected near < far"):
    g2s.ellipsoid_depth(good, near=1.02, far=0.91)
  with pytest.raises(ValueError, match="near, far: expected near < far <= near \\+ radius"):
    g2s.ellipsoid_depth(good, near=0.5, far=1.0)
  with pytest.raises(ValueError, match="threshold"):
    g2s.ellipsoid_depth(good, threshold=1.0)
  with pytest.raises(ValueError, match="raise_top"):
    g2s.ellipsoid_depth(good, raise_top=-0.1)
