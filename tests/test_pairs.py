"""The paired (images, shapes) layout every mapping experiment reads."""
import jax
import numpy as np
import pytest

from inverse3d.data.pairs import make_paired_dataset


@pytest.mark.parametrize("name,views,shape_shape", [
    ("procedural_faces", 3, None), ("procedural_objects", 8, (30, 30, 30))])
def test_procedural_layout(name, views, shape_shape):
  ds = make_paired_dataset(name, jax.random.key(0), 6, 3, face_vertices=300)
  assert ds["train"]["images"].shape[:2] == (6, views)
  assert ds["test"]["images"].shape == (3, views, 32, 32)
  assert ds["train"]["images"].dtype == np.float32
  assert 0 <= ds["train"]["images"].min() and ds["train"]["images"].max() <= 1
  assert ds["train"]["images"].std() > 0.05  # shaded, not blank
  dims = shape_shape or ds["shape_shape"]
  assert ds["train"]["shapes"].shape == (6, int(np.prod(dims)))
  assert len(ds["view_angles"]) == views
  if ds["kind"] == "points":
    points = ds["train"]["shapes"].reshape(6, -1, 3)
    np.testing.assert_allclose(points.min(1), 0, atol=1e-6)
    np.testing.assert_allclose(points.max(1), 1, atol=1e-6)
  else:
    assert set(np.unique(ds["train"]["shapes"])) <= {0.0, 1.0}


def test_deterministic_and_splits_differ():
  a = make_paired_dataset("procedural_objects", jax.random.key(3), 4, 4)
  b = make_paired_dataset("procedural_objects", jax.random.key(3), 4, 4)
  np.testing.assert_array_equal(a["train"]["shapes"], b["train"]["shapes"])
  assert not np.array_equal(a["train"]["shapes"], a["test"]["shapes"])


def test_modelnet_subsample_keeps_official_rows(shared_file):
  path = shared_file("modelnet10_vox30.npz")
  ds = make_paired_dataset("modelnet10", jax.random.key(0), 10, 5, data_dir=path.parent)
  assert ds["train"]["images"].shape == (10, 8, 32, 32)
  with np.load(path) as raw:
    train = raw["X_train"].reshape(len(raw["X_train"]), -1)
    rows = [np.flatnonzero((train == s).all(1))[0] for s in ds["train"]["shapes"]]
    np.testing.assert_array_equal(raw["y_train"][rows], ds["train"]["labels"])


def test_bad_name_and_sizes():
  with pytest.raises(ValueError, match="name: expected one of"):
    make_paired_dataset("shapenet", jax.random.key(0), 2, 2)
  with pytest.raises(ValueError, match="n_test"):
    make_paired_dataset("procedural_objects", jax.random.key(0), 2, 0)
