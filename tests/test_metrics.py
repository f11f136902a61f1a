"""Shape metrics against NumPy float64 references and analytic cases."""
import jax
import numpy as np
import pytest

from inverse3d.eval.metrics import iou, per_vertex_error, rmse


def test_rmse_matches_numpy_and_eq12():
  rng = np.random.default_rng(0)
  pred, target = rng.random((5, 6, 6, 6)), (rng.random((5, 6, 6, 6)) > 0.7).astype(np.int32)
  want = np.sqrt(np.mean((pred - target) ** 2))
  np.testing.assert_allclose(rmse(pred, target), want, rtol=1e-6)
  # eq. 12 as printed (squared error summed over a sample's D elements) = ours * sqrt(D)
  eq12 = np.sqrt(np.sum((pred - target) ** 2) / len(pred))
  np.testing.assert_allclose(rmse(pred, target) * np.sqrt(6 ** 3), eq12, rtol=1e-6)
  np.testing.assert_allclose(rmse(target + 0.25, target), 0.25, rtol=1e-6)  # analytic
  np.testing.assert_allclose(jax.jit(rmse)(pred, target), want, rtol=1e-6)
  np.testing.assert_allclose(rmse(np.array([1.0, 3.0]), np.array([0.0, 0.0])), np.sqrt(5))


def test_iou_matches_set_reference():
  target = np.zeros((3, 8, 8, 8), np.uint8)
  target[0, 2:6, 2:6, 2:6] = 1  # 64 voxels
  target[1, 0:2, 0:2, 0:2] = 1
  pred = np.zeros((3, 8, 8, 8), np.float32)
  pred[0, 3:7, 2:6, 2:6] = 0.9  # shifted by one: 48 shared, 80 in the union
  pred[0, 0, 0, 0] = 0.5  # not above the threshold
  pred[1] = 0.2  # predicts nothing: IoU 0; sample 2 is empty in both: IoU 1
  np.testing.assert_allclose(iou(pred, target), [48 / 80, 0.0, 1.0], rtol=1e-6)
  np.testing.assert_allclose(iou(pred, target, threshold=0.1)[1], 8 / 512, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(iou)(pred, target), [48 / 80, 0.0, 1.0], rtol=1e-6)


def test_iou_on_real_modelnet_voxels(shared_file):
  voxels = np.load(shared_file("modelnet10_vox30.npz"))["X_train"][:20]
  shifted = np.roll(voxels, 1, axis=3)  # one voxel up along the vertical axis
  flat_a, flat_b = voxels.reshape(20, -1) > 0, shifted.reshape(20, -1) > 0
  union = (flat_a | flat_b).sum(1)
  want = np.where(union > 0, (flat_a & flat_b).sum(1) / np.maximum(union, 1), 1.0)
  np.testing.assert_allclose(iou(shifted.astype(np.float32), voxels), want, rtol=1e-6)
  np.testing.assert_allclose(iou(voxels, voxels), np.ones(20))


def test_per_vertex_error():
  rng = np.random.default_rng(1)
  pred, target = rng.standard_normal((4, 7, 3)), rng.standard_normal((4, 7, 3))
  np.testing.assert_allclose(per_vertex_error(pred, target),
                             np.linalg.norm(pred - target, axis=-1), rtol=1e-5)
  np.testing.assert_allclose(per_vertex_error(target + [3.0, 4.0, 0.0], target),
                             np.full((4, 7), 5.0), rtol=1e-5)  # analytic: a 3-4-5 shift


def test_bad_input():
  a = np.zeros((2, 5, 3))
  with pytest.raises(ValueError, match=r"target: expected shape \(2, 5, 3\), got \(2, 4, 3\)"):
    rmse(a, np.zeros((2, 4, 3)))
  with pytest.raises(ValueError, match=r"pred: expected shape \(N, V, 3\), got \(2, 5, 2\)"):
    per_vertex_error(np.zeros((2, 5, 2)), np.zeros((2, 5, 2)))
  with pytest.raises(ValueError, match=r"pred: expected at least 1 entries along axis 0"):
    rmse(np.zeros((0, 3)), np.zeros((0, 3)))
  with pytest.raises(ValueError, match=r"pred: expected shape \(N\), got \(\)"):
    rmse(np.float32(1.0), np.float32(1.0))
  with pytest.raises(ValueError, match=r"pred: expected shape \(N, \?\), got \(4,\)"):
    iou(np.zeros(4), np.zeros(4))
  bad = a.copy()
  bad[1, 2, 0] = np.nan
  with pytest.raises(ValueError, match="pred: expected finite values, got 1 NaN or inf"):
    rmse(bad, a)
  with pytest.raises(ValueError, match="target: expected finite values"):
    per_vertex_error(a, bad + np.inf)
  with pytest.raises(ValueError, match=r"target: expected values in \{0, 1\}, got 1 other"):
    iou(np.zeros((1, 2, 2)), np.array([[[0, 1], [2, 0]]]))
