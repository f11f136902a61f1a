"""Procedural ModelNet10-like objects: determinism, ranges, the real data's conventions."""
import jax
import numpy as np
import pytest

from inverse3d.data.objects import OBJECT_CLASSES, procedural_objects, voxelise

PER_CLASS = 3


@pytest.fixture(scope="module")
def objects():
  out = procedural_objects(jax.random.key(0), PER_CLASS * len(OBJECT_CLASSES))
  return np.asarray(out["voxels"]), np.asarray(out["labels"])


def _bounds(voxels):
  """(lo, hi) occupied index per axis of one (G, G, G) grid."""
  nz = np.argwhere(voxels)
  return nz.min(0), nz.max(0)


def test_types_ranges_and_every_class(objects):
  voxels, labels = objects
  assert voxels.shape == (30, 30, 30, 30) and voxels.dtype == np.uint8
  assert labels.shape == (30,) and labels.dtype == np.int32
  assert set(np.unique(voxels)) == {0, 1}
  np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, PER_CLASS))


def test_deterministic_from_key(objects):
  voxels, labels = objects
  again = procedural_objects(jax.random.key(0), 30)
  np.testing.assert_array_equal(np.asarray(again["voxels"]), voxels)
  np.testing.assert_array_equal(np.asarray(again["labels"]), labels)
  other = procedural_objects(jax.random.key(1), 30)
  assert not np.array_equal(np.asarray(other["voxels"]), voxels)


def test_inside_padding_and_scaled_like_modelnet(objects):
  voxels, _ = objects
  for v in voxels:
    lo, hi = _bounds(v)
    assert lo.min() >= 3 and hi.max() <= 26
    assert (hi - lo + 1).max() == 24  # binvox at 24^3: the largest side fills 24 voxels
    centre = (lo + hi) / 2
    assert np.all(np.abs(centre - 14.5) <= 0.5)


def _by_class(objects, name):
  voxels, labels = objects
  return voxels[labels == OBJECT_CLASSES.index(name)]


def test_axis_two_is_vertical(objects):
  for table in _by_class(objects, "table"):
    per_level = table.sum(axis=(0, 1))
    lo, hi = _bounds(table)
    assert per_level[hi[2]] > 3 * per_level[(lo[2] + hi[2]) // 2]  # top above thin legs
    assert per_level[hi[2]] > 3 * per_level[lo[2]]  # legs or a foot, not a top, at the bottom
  for chair in _by_class(objects, "chair"):
    lo, hi = _bounds(chair)
    assert lo[2] == 3 and hi[2] == 26  # chairs are tallest along z: support at the bottom
    top = np.argwhere(chair[:, :, hi[2] - 3:])
    assert top[:, 1].mean() > (lo[1] + hi[1]) / 2 + 3  # the back rises at +y, as in ModelNet
  for sofa in _by_class(objects, "sofa"):
    lo, hi = _bounds(sofa)
    top = np.argwhere(sofa[:, :, hi[2] - 1:])
    assert top[:, 0].mean() > (lo[0] + hi[0]) / 2 + 2  # sofa backs at +x, as in ModelNet


def test_extents_match_real_modelnet(objects, shared_file):
  real = np.load(shared_file("modelnet10_vox30.npz"))
  voxels, labels = objects
  for c, name in enumerate(OBJECT_CLASSES):
    picked = real["X_test"][real["y_test"] == c]
    real_extent = np.mean([np.subtract(*_bounds(v)[::-1]) + 1 for v in picked if v.any()], 0)
    ours = np.mean([np.subtract(*_bounds(v)[::-1]) + 1 for v in voxels[labels == c]], 0)
    assert np.all(np.abs(ours - real_extent) <= 4.0), (name, ours, real_extent)


def test_classes_filter_and_single_name():
  out = procedural_objects(jax.random.key(3), 4, classes=["chair", "table"])
  assert sorted(np.asarray(out["labels"]).tolist()) == [2, 2, 8, 8]
  out = procedural_objects(jax.random.key(3), 2, classes="monitor", grid=16)
  assert out["voxels"].shape == (2, 16, 16, 16)
  assert set(np.asarray(out["labels"]).tolist()) == {5}
  lo, hi = _bounds(np.asarray(out["voxels"][0]))
  assert lo.min() >= 3 and hi.max() <= 12


def test_unknown_class_and_bad_arguments():
  with pytest.raises(ValueError, match=r"classes: expected one of \['bathtub'.*got 'lamp'"):
    procedural_objects(jax.random.key(0), 2, classes=["chair", "lamp"])
  with pytest.raises(ValueError, match=r"n: expected an integer in \[1, 1000000\], got 0"):
    procedural_objects(jax.random.key(0), 0)
  with pytest.raises(ValueError, match="grid"):
    procedural_objects(jax.random.key(0), 1, grid=4)


def test_voxelise_box_and_cylinders_against_numpy():
  # A box from x 0..10, y 0..4, z 0..2 and a carved z-cylinder; largest side 10 -> 23.8 voxels.
  rows = np.array([[1, 0, 0, 10, 0, 4, 0, 2, ],
                   [4, 1, 3, 7, 0, 4, -1, 3]], np.float32)
  got = np.asarray(voxelise(rows, grid=30))
  scale = 23.8 / 10
  q = (np.arange(30) - 14.5) / scale  # object coordinates of voxel centres, box centred
  x, y, z = np.meshgrid(q + 5, q + 2, q + 1, indexing="ij")
  box = (np.abs(x - 5) <= 5) & (np.abs(y - 2) <= 2) & (np.abs(z - 1) <= 1)
  cylinder = (((x - 5) / 2) ** 2 + ((y - 2) / 2) ** 2 <= 1) & (np.abs(z - 1) <= 2)
  np.testing.assert_array_equal(got, box & ~cylinder)
  assert got.sum() > 0 and (box & cylinder).sum() > 0


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(n=1, grid=10 ** 6),
     r"^grid: expected an integer in \[12, 256\], got 1000000 \(voxelising one object takes "
     r"about 110 \* grid\^3 bytes, 2 GB at 256\)$"),
    (dict(n=10 ** 9), r"^n: expected an integer in \[1, 1000000\], got 1000000000 \(each"),
    (dict(n=20_000, grid=256),
     r"^n: expected n \* grid\^3 <= 2\*\*33 voxels \(8 GiB of output\), got n=20000 with "
     r"grid=256"),
])
def test_sizes_are_checked_before_any_allocation(kwargs, pattern):
  # grid=10**6 used to abort the interpreter (rc 134) allocating grid^3 voxels.
  with pytest.raises(ValueError, match=pattern):
    procedural_objects(jax.random.key(0), **kwargs)


def test_large_grids_voxelise_fewer_objects_at_once():
  out = procedural_objects(jax.random.key(4), 2, classes="table", grid=48)
  assert out["voxels"].shape == (2, 48, 48, 48)
  lo, hi = _bounds(np.asarray(out["voxels"][1]))
  assert lo.min() >= 3 and hi.max() <= 44 and hi.max() - lo.min() >= 40
