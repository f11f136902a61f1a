"""The baselines (inverse3d.eval.baselines, their scoring in inverse3d.mapping.scores) against
independent float64 NumPy brute force on tiny sets, and the class-mean threshold's data."""
import jax
import numpy as np
import pytest

from inverse3d.eval.baselines import class_means, nearest_neighbours
from inverse3d.eval.metrics import best_iou_threshold
from inverse3d.mapping import scores
from inverse3d.mapping.data import image_rows, validation_rows

KEY = jax.random.key(3)


def brute_nearest(queries, references):
  """Index of the nearest reference of each query, float64, every pair."""
  q, r = np.asarray(queries, np.float64), np.asarray(references, np.float64)
  return np.argmin(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1), axis=1)


def reference_scores(pred, shapes, kind, threshold=0.5):
  """pred (N, A, D) against shapes (N, D), float64: the fields of scores.evaluate."""
  pred, truth = np.asarray(pred, np.float64), np.asarray(shapes, np.float64)[:, None]
  err = pred - truth
  out = {"rmse": np.sqrt(np.mean(err ** 2)), "rmse_per_view": np.sqrt(np.mean(err ** 2, (0, 2)))}
  if kind == "voxels":
    occupied, full = pred > threshold, np.broadcast_to(truth > 0.5, pred.shape)
    union = (occupied | full).sum(-1)
    out["iou"] = np.where(union > 0, (occupied & full).sum(-1) / np.maximum(union, 1), 1).mean()
  else:
    n, views = pred.shape[:2]
    out["vertex_error"] = np.linalg.norm(err.reshape(n, views, -1, 3), axis=-1).mean()
  return out


def assert_scores(got, want):
  for field, value in want.items():
    np.testing.assert_allclose(got[field], value, rtol=1e-5, atol=1e-7, err_msg=field)


PATTERN = np.random.default_rng(99).random((3, 12))
"""Each class's occupancy probability of each of 12 voxels."""


def voxel_split(rng, n, views=3, size=4):
  """n random binary 12-voxel shapes of 3 classes drawn from PATTERN, with random views."""
  labels = np.arange(n) % len(PATTERN)
  return {"images": rng.random((n, views, size, size)).astype(np.float32),
          "shapes": (rng.random((n, 12)) < PATTERN[labels]).astype(np.float32),
          "labels": labels.astype(np.int32)}


def test_nearest_neighbours_match_brute_force_in_chunks():
  rng = np.random.default_rng(0)
  references = rng.normal(size=(37, 20)).astype(np.float32) + 5.0  # off-centre data
  queries = rng.normal(size=(13, 20)).astype(np.float32) + 5.0
  want = brute_nearest(queries, references)
  for chunk in (1, 4, 13, 64):  # one per query, a remainder, exactly one chunk, more than Q
    np.testing.assert_array_equal(nearest_neighbours(queries, references, chunk_size=chunk), want)
  # Ties go to the lowest index, as NumPy's argmin: a duplicated nearest reference.
  doubled = np.concatenate([references, references])
  np.testing.assert_array_equal(nearest_neighbours(queries, doubled[::-1]),
                                brute_nearest(queries, doubled[::-1]))
  # Binary grids tie often: integer distances are exact, so ties go to the lowest index too.
  small = (rng.random((30, 12)) < 0.5).astype(np.float32)
  np.testing.assert_array_equal(nearest_neighbours(small[:9], small[9:]),
                                brute_nearest(small[:9], small[9:]))
  # Binary 27,000-voxel grids, as the oracle compares them.
  grids = (rng.random((6, 27_000)) < 0.1).astype(np.float32)
  noisy = np.abs(grids[[4, 1, 1]] - (rng.random((3, 27_000)) < 0.01))
  np.testing.assert_array_equal(nearest_neighbours(noisy, grids), [4, 1, 1])
  with pytest.raises(ValueError, match=r"queries: expected shape \(Q, 20\), got \(13, 19\)"):
    nearest_neighbours(queries[:, :19], references)


def test_class_means_match_numpy():
  rng = np.random.default_rng(1)
  shapes, labels = rng.random((10, 5)), np.array([0, 2, 2, 0, 2, 0, 0, 2, 2, 0])
  got = np.asarray(class_means(shapes, labels, 4))
  for c in (0, 2):
    np.testing.assert_allclose(got[c], shapes[labels == c].mean(0), rtol=1e-6)
  assert np.isnan(got[[1, 3]]).all()  # classes without shapes cannot pass unnoticed


def test_best_iou_threshold_is_the_argmax_of_mean_iou():
  rng = np.random.default_rng(2)
  target = (rng.random((20, 30)) < 0.3).astype(np.float32)
  pred = np.clip(target * 0.35 + rng.random((20, 30)) * 0.4, 0, 1)  # best cut near 0.35
  candidates = np.linspace(0.05, 0.95, 19)
  means = [reference_scores(pred[:, None], target, "voxels", t)["iou"] for t in candidates]
  assert best_iou_threshold(pred, target, candidates) == candidates[int(np.argmax(means))]
  assert 0.05 < best_iou_threshold(pred, target, candidates) < 0.5


def test_validation_rows_hold_out_part_of_every_class():
  labels = np.array([0] * 10 + [1] * 2 + [2] * 1 + [3] * 5)
  rows = validation_rows(KEY, labels, 0.2)
  assert np.array_equal(rows, np.sort(rows)) and len(set(rows)) == len(rows)
  held = np.bincount(labels[rows], minlength=4)
  assert held.tolist() == [2, 1, 0, 1]  # round(0.2 n), at least 1, never the last of a class
  assert not np.array_equal(rows, validation_rows(jax.random.key(4), labels, 0.2))
  np.testing.assert_array_equal(rows, validation_rows(KEY, labels, 0.2))
  with pytest.raises(ValueError, match=r"fraction: expected a number in \(0, 1\)"):
    validation_rows(KEY, labels, 1.0)


def test_shape_baselines_match_numpy_and_the_threshold_reads_no_test_data():
  rng = np.random.default_rng(5)
  train, test = voxel_split(rng, 30), voxel_split(rng, 7)
  got = scores.shape_baselines(train, test, "voxels", KEY)
  assert list(got) == ["mean_shape", "class_mean", "oracle_retrieval"]
  views = test["images"].shape[1]

  def tiled(pred):
    return np.repeat(np.asarray(pred, np.float64)[:, None], views, axis=1)

  shapes, labels = train["shapes"].astype(np.float64), train["labels"]
  mean = np.broadcast_to(shapes.mean(0), test["shapes"].shape)
  assert_scores(got["mean_shape"], reference_scores(tiled(mean), test["shapes"], "voxels"))
  # class_mean: the threshold of best validation IoU, the fit part's class means predicting
  # the held-out training shapes; then every training shape's class mean at that threshold.
  val = validation_rows(KEY, labels, scores.VAL_FRACTION)
  fit = np.setdiff1d(np.arange(len(labels)), val)
  fit_means = np.stack([shapes[fit][labels[fit] == c].mean(0) for c in range(3)])
  val_iou = [reference_scores(fit_means[labels[val]][:, None], shapes[val], "voxels", t)["iou"]
             for t in scores.THRESHOLDS]
  threshold = scores.THRESHOLDS[int(np.argmax(val_iou))]
  means = np.stack([shapes[labels == c].mean(0) for c in range(3)])
  want = reference_scores(tiled(means[test["labels"]]), test["shapes"], "voxels", threshold)
  assert got["class_mean"]["iou_threshold"] == threshold and got["class_mean"]["n_val"] == len(val)
  assert_scores(got["class_mean"], want)
  oracle = train["shapes"][brute_nearest(test["shapes"], train["shapes"])]
  assert_scores(got["oracle_retrieval"], reference_scores(tiled(oracle), test["shapes"], "voxels"))
  # Other test data, the same threshold; other training data, another one.
  other = scores.shape_baselines(train, voxel_split(np.random.default_rng(6), 9), "voxels", KEY)
  assert other["class_mean"]["iou_threshold"] == threshold
  thresholds = {scores.shape_baselines(voxel_split(np.random.default_rng(seed), 30), test,
                                       "voxels", KEY)["class_mean"]["iou_threshold"]
                for seed in range(7, 12)}
  assert len(thresholds) > 1


def test_retrieval_scores_match_numpy_on_points_and_voxels():
  rng = np.random.default_rng(7)
  n_train, n_test, views = 11, 5, 3
  for kind, dims in (("points", 4 * 3), ("voxels", 12)):
    train = {"images": rng.random((n_train, views, 4, 4)).astype(np.float32),
             "shapes": rng.random((n_train, dims)).astype(np.float32)}
    test = {"images": rng.random((n_test, views, 4, 4)).astype(np.float32),
            "shapes": (rng.random((n_test, dims)) < 0.4).astype(np.float32)}
    # Two views of each training shape as the pairs, as the deep job's views_per_shape.
    pairs = (np.repeat(np.arange(n_train), 2), np.tile([0, 2], n_train))
    x, index = image_rows(train, pairs)
    x_test, _ = image_rows(test)
    got = scores.retrieval_scores(x, index, x_test, train["shapes"], test, kind)
    flat_train = train["images"][pairs[0], pairs[1]].reshape(len(pairs[0]), -1)
    nearest = brute_nearest(test["images"].reshape(n_test * views, -1), flat_train)
    pred = train["shapes"][pairs[0][nearest]].reshape(n_test, views, dims)
    assert_scores(got, reference_scores(pred, test["shapes"], kind))
    if kind == "points":
      # In a code space: a random projection of the pixels, the encoder's role.
      project = rng.normal(size=(16, 3)).astype(np.float32)
      got = scores.retrieval_scores(x @ project, index, x_test @ project, train["shapes"],
                                    test, kind)
      nearest = brute_nearest(test["images"].reshape(n_test * views, -1) @ project,
                              flat_train @ project)
      pred = train["shapes"][pairs[0][nearest]].reshape(n_test, views, dims)
      assert_scores(got, reference_scores(pred, test["shapes"], kind))


def test_result_row_fields_and_kinds():
  row = scores.result_row("d", "main", "deep", {"rmse": 0.1, "iou": 0.5, "kept": np.zeros(2)},
                          labeled_fraction=1.0)
  assert row == {"dataset": "d", "name": "main", "kind": "deep", "labeled_fraction": 1.0,
                 "rmse": 0.1, "iou": 0.5}
  with pytest.raises(ValueError, match=r"kind: expected one of \['closed_form', 'deep', "
                                       r"'baseline'\], got 'retrieval'"):
    scores.result_row("d", "x", "retrieval", {"rmse": 0.1})
