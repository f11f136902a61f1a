import numpy as np
import pytest

from inverse3d.data.binvox import read_binvox, run_length_encode, write_binvox
from inverse3d.data.mesh_io import read_off


def _reference_rle(flat):
  """Plain-Python run-length encoding, runs capped at 255 (the binvox spec)."""
  out, i = [], 0
  while i < len(flat):
    j = i
    while j < len(flat) and flat[j] == flat[i] and j - i < 255:
      j += 1
    out += [int(flat[i]), j - i]
    i = j
  return out


def test_run_length_encode_matches_reference_with_long_runs():
  rng = np.random.default_rng(0)
  # Runs from 1 to 1000 voxels, so many exceed 255.
  lengths = rng.integers(1, 1000, size=40)
  flat = np.repeat(np.arange(40) % 2, lengths).astype(np.uint8)
  assert run_length_encode(flat).tolist() == _reference_rle(flat.tolist())
  assert run_length_encode(np.ones(1000, np.uint8)).tolist() == [1, 255, 1, 255, 1, 255, 1, 235]


@pytest.mark.parametrize("up", ["z", "y"])
def test_round_trip(tmp_path, up):
  voxels = (np.random.default_rng(1).random((9, 9, 9)) < 0.3).astype(np.uint8)
  voxels[:4] = 1  # a run of 324 ones
  path = tmp_path / "a.binvox"
  write_binvox(path, voxels, translate=(-1.5, 0.25, 3.0), scale=2.5, up=up)
  back = read_binvox(path, up=up)
  np.testing.assert_array_equal(back["voxels"], voxels)
  assert back["voxels"].dtype == np.uint8
  np.testing.assert_allclose(back["translate"], [-1.5, 0.25, 3.0])
  assert back["scale"] == 2.5


def test_storage_order_is_x_then_z_then_y(tmp_path):
  d, (i, j, k) = 5, (1, 3, 4)
  voxels = np.zeros((d, d, d), np.uint8)
  voxels[i, j, k] = 1
  path = tmp_path / "one.binvox"
  write_binvox(path, voxels)
  raw = path.read_bytes()
  pairs = np.frombuffer(raw[raw.index(b"data\n") + 5:], np.uint8).reshape(-1, 2)
  flat = np.repeat(pairs[:, 0], pairs[:, 1])
  # The binvox spec: index = x * d * d + z * d + y (y runs fastest).
  assert np.flatnonzero(flat).tolist() == [i * d * d + k * d + j]
  # up="y": the grid is [z, x, y], so the same file reads with the voxel at (k, i, j).
  assert np.argwhere(read_binvox(path, up="y")["voxels"]).tolist() == [[k, i, j]]


def test_real_toilet_axes_translate_scale(shared_file):
  vertices, _ = read_off(shared_file("modelnet10_samples/toilet_0345.off"))
  low, high = vertices.min(0), vertices.max(0)  # extents 13.8 x 22.15 x 17.5, z up
  for d in (30, 256):
    data = read_binvox(shared_file(f"modelnet10_samples/toilet_0345_{d}.binvox"))
    voxels = data["voxels"]
    assert voxels.shape == (d, d, d)
    np.testing.assert_allclose(data["translate"], low, atol=1e-4)
    assert data["scale"] == pytest.approx(float((high - low).max()), abs=1e-4)
    occupied = np.argwhere(voxels)
    size = occupied.max(0) - occupied.min(0) + 1
    # Axis 2 spans the mesh's z extent (vertical), axis 1 the longest (y) side; a partly
    # covered voxel at each end can add up to 2.
    expected = (high - low) / data["scale"] * d
    assert np.all(size <= expected + 2) and np.all(size >= expected - 0.1 * d)
    assert np.argmax(size) == 1
  # The 256 grid is not centred: voxel centres map into the mesh's box via translate + scale.
  centres = data["translate"] + data["scale"] * (occupied + 0.5) / 256
  voxel = data["scale"] / 256
  assert np.all(centres >= low - voxel) and np.all(centres <= high + voxel)


@pytest.mark.parametrize("corrupt, message", [
    (lambda raw: raw[:-3], "truncated"),
    (lambda raw: raw[:-2], "summing to"),
    (lambda raw: raw + b"\x01\x05", "summing to"),
    (lambda raw: raw.replace(b"#binvox 1", b"#voxbin 1"), "#binvox"),
    (lambda raw: raw.replace(b"dim 4 4 4", b"dim 4 x 4"), "line 2"),
    (lambda raw: raw.replace(b"data\n", b"dat\n"), "header"),
    (lambda raw: raw[:raw.index(b"data\n") + 5] + b"\x02\x40", "values 0 or 1"),
])
def test_corrupt_files_raise_naming_the_file(tmp_path, corrupt, message):
  path = tmp_path / "bad.binvox"
  write_binvox(path, np.eye(4, dtype=np.uint8)[:, :, None] * np.ones(4, np.uint8))
  path.write_bytes(corrupt(path.read_bytes()))
  with pytest.raises(ValueError, match=message) as info:
    read_binvox(path)
  assert "bad.binvox" in str(info.value)


def test_bad_arguments(tmp_path):
  with pytest.raises(FileNotFoundError, match="path"):
    read_binvox(tmp_path / "missing.binvox")
  with pytest.raises(ValueError, match="voxels: expected shape"):
    write_binvox(tmp_path / "a.binvox", np.zeros((4, 4, 5)))
  with pytest.raises(ValueError, match="voxels: expected a non-empty grid of 0/1"):
    write_binvox(tmp_path / "a.binvox", np.full((4, 4, 4), 2))
  with pytest.raises(ValueError, match="up"):
    write_binvox(tmp_path / "a.binvox", np.zeros((4, 4, 4)), up="x")
  assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file
