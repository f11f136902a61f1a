import functools

import numpy as np
import pytest

from inverse3d.data.modelnet import (MODELNET10_CLASSES, duplicate_indices, empty_indices,
                                     load_modelnet10)


@functools.lru_cache(maxsize=1)
def _load_real(path):
  return load_modelnet10(path), load_modelnet10(path, drop_empty=True, drop_duplicates=True)


@pytest.fixture
def real(shared_file):
  """The real file, as loaded and with empties and repeats dropped (loaded once per session)."""
  return _load_real(shared_file("modelnet10_vox30.npz"))


def _write_tiny(path, **overrides):
  """A 10-train / 4-test file with known quirks: train 2 and 7 empty, 5 repeats 1, 7 repeats
  2 (both empty), 9 repeats 1 with another label; test 3 repeats 0, test 1 equals train 4."""
  rng = np.random.default_rng(0)
  x_train = (rng.random((10, 30, 30, 30)) < 0.2).astype(np.int32)
  x_train[[2, 7]] = 0
  x_train[[5, 9]] = x_train[1]
  x_test = (rng.random((4, 30, 30, 30)) < 0.2).astype(np.int32)
  x_test[3], x_test[1] = x_test[0], x_train[4]
  y_train = np.array([0, 1, 2, 3, 4, 1, 6, 7, 8, 5], np.int64)
  arrays = dict(X_train=x_train, y_train=y_train, X_test=x_test, y_test=np.arange(4))
  arrays.update(overrides)
  np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
  return arrays


def _reference_duplicates(voxels):
  """Plain-Python reference: (index, first index with the same bytes) for each repeat."""
  seen, out = {}, []
  for i, grid in enumerate(voxels):
    key = grid.astype(np.uint8).tobytes()
    if key in seen:
      out.append((i, seen[key]))
    seen.setdefault(key, i)
  return out


def test_report_on_tiny_file_matches_reference(tmp_path):
  arrays = _write_tiny(tmp_path / "tiny.npz")
  data = load_modelnet10(tmp_path / "tiny.npz")
  report = data["report"]
  assert report["empty_train"]["indices"].tolist() == [2, 7]
  dup = report["duplicate_train"]
  assert list(zip(dup["indices"].tolist(), dup["first"].tolist())) == \
      _reference_duplicates(arrays["X_train"]) == [(5, 1), (7, 2), (9, 1)]
  assert dup["label_conflicts"] == 2  # 7 (label 7 vs 2) and 9 (label 5 vs 1)
  assert report["duplicate_test"]["indices"].tolist() == [3]
  assert report["test_in_train"]["indices"].tolist() == [1]
  assert data["train"]["voxels"].dtype == np.uint8 and data["train"]["labels"].dtype == np.int32
  np.testing.assert_array_equal(data["train"]["voxels"], arrays["X_train"])

  dropped = load_modelnet10(tmp_path / "tiny.npz", drop_empty=True, drop_duplicates=True)
  np.testing.assert_array_equal(dropped["train"]["labels"], [0, 1, 3, 4, 6, 8])
  assert len(dropped["test"]["labels"]) == 3
  only_empty = load_modelnet10(tmp_path / "tiny.npz", drop_empty=True)
  assert len(only_empty["train"]["labels"]) == 8


def test_helpers_on_small_arrays():
  voxels = np.zeros((5, 2, 2, 2), np.uint8)
  voxels[1, 0, 0, 0] = voxels[3, 0, 0, 0] = voxels[4, 1, 1, 1] = 1
  assert empty_indices(voxels).tolist() == [0, 2]
  indices, first = duplicate_indices(voxels)
  assert indices.tolist() == [2, 3] and first.tolist() == [0, 1]


def test_real_file_quirks_match_readme(real):
  data, _ = real
  report = data["report"]
  assert report["empty_train"]["count"] == 7 and report["empty_test"]["count"] == 1
  assert report["empty_train"]["indices"].tolist() == [6, 15, 21, 24, 60, 3392, 3857]
  assert report["empty_test"]["indices"].tolist() == [304]
  assert report["duplicate_train"]["count"] == 191
  assert report["duplicate_train"]["label_conflicts"] == 8
  assert report["duplicate_test"]["count"] == 15
  assert report["test_in_train"]["count"] == 72
  train = data["train"]
  assert train["voxels"].shape == (3991, 30, 30, 30) and train["voxels"].dtype == np.uint8
  assert data["test"]["voxels"].shape == (908, 30, 30, 30)
  assert data["class_names"] == MODELNET10_CLASSES and data["class_names"][9] == "toilet"
  assert np.bincount(train["labels"]).tolist() == [106, 515, 889, 200, 200, 465, 200, 680, 392,
                                                   344]
  assert np.bincount(data["test"]["labels"]).tolist() == [50, 100, 100, 86, 86, 100, 86, 100,
                                                          100, 100]
  # Every object lies inside [3, 26]^3 (24^3 padded by 3).
  occupied = train["voxels"].any(axis=0)
  assert not occupied[:3].any() and not occupied[27:].any()
  assert not occupied[:, :, :3].any() and not occupied[:, :, 27:].any()


def test_real_file_dropping(real):
  data, dropped = real
  train = dropped["train"]["voxels"]
  # The 7 empty grids are one grid repeated: 191 repeats + the first empty one go.
  assert len(train) == 3991 - 191 - 1 and len(dropped["test"]["voxels"]) == 908 - 15 - 1
  assert train.reshape(len(train), -1).any(axis=1).all()
  assert len({grid.tobytes() for grid in train}) == len(train)


def test_missing_file_says_where_to_get_it(tmp_path):
  with pytest.raises(FileNotFoundError, match="path: expected the ModelNet10") as info:
    load_modelnet10(tmp_path / "nothing.npz")
  assert "3dshapenets" in str(info.value) and "modelnet10_vox30.npz" in str(info.value)


@pytest.mark.parametrize("overrides, message", [
    (dict(y_test=None), r"missing \['y_test'\]"),
    (dict(X_test=np.zeros((4, 30, 30), np.int32)), r"X_test of shape \(N, 30, 30, 30\)"),
    (dict(y_test=np.arange(3)), r"y_test of shape \(N,\)"),
    (dict(y_test=np.array([0, 1, 2, 10])), r"labels in \[0, 9\]"),
    (dict(X_test=np.full((4, 30, 30, 30), 2, np.int32)), r"values in \{0, 1\}"),
])
def test_bad_contents_raise_naming_the_file(tmp_path, overrides, message):
  _write_tiny(tmp_path / "bad.npz", **overrides)
  with pytest.raises(ValueError, match=message) as info:
    load_modelnet10(tmp_path / "bad.npz")
  assert "bad.npz" in str(info.value)


@pytest.mark.parametrize("damage", [lambda raw: raw[:len(raw) // 2], lambda raw: b"x" * 100])
def test_corrupt_or_truncated_file(tmp_path, damage):
  path = tmp_path / "broken.npz"
  _write_tiny(path)
  path.write_bytes(damage(path.read_bytes()))
  with pytest.raises(ValueError, match="broken.npz: expected a readable .npz"):
    load_modelnet10(path)
