import itertools

import numpy as np
import pytest

from inverse3d.data.binvox import read_binvox
from inverse3d.data.mesh_io import read_off, voxelize_mesh

CUBE_OFF = """OFF
# a unit cube with quad faces
8 6 12
0 0 0
1 0 0
1 1 0
0 1 0
0 0 1
1 0 1
1 1 1
0 1 1
4 0 3 2 1
4 4 5 6 7
4 0 1 5 4
4 2 3 7 6
4 1 2 6 5
4 0 4 7 3
"""


def _box_mesh(low, high):
  """A closed axis-aligned box: 8 vertices, 12 triangles."""
  corners = np.array(list(itertools.product(*zip(low, high))), np.float64)  # index = 4x + 2y + z
  quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
  faces = [(q[0], q[i], q[i + 1]) for q in quads for i in (1, 2)]
  return corners, np.array(faces, np.int32)


def _octahedron():
  vertices = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
  faces = [(a, b, c) for a in (0, 1) for b in (2, 3) for c in (4, 5)]
  return vertices * [1.0, 0.6, 0.8], np.array(faces, np.int32)


def _reference(inside, vertices, faces, inner, pad, supersample):
  """Independent reference: a coarse voxel is set iff some fine-voxel centre is inside."""
  used = vertices[np.unique(faces)]
  low, high = used.min(0), used.max(0)
  fine = inner * supersample
  c = (np.arange(fine) + 0.5 - fine / 2) * (high - low).max() / fine
  points = np.stack(np.meshgrid(c, c, c, indexing="ij"), -1) + (low + high) / 2
  occupied = inside(points).reshape([inner, supersample] * 3).any(axis=(1, 3, 5))
  return np.pad(occupied, pad).astype(np.uint8)


def test_read_off_fan_triangulates_quads(tmp_path):
  path = tmp_path / "cube.off"
  path.write_text(CUBE_OFF)
  vertices, faces = read_off(path)
  assert vertices.dtype == np.float32 and faces.dtype == np.int32
  assert vertices.shape == (8, 3) and faces.shape == (12, 3)
  np.testing.assert_array_equal(vertices[6], [1, 1, 1])
  np.testing.assert_array_equal(faces[:2], [[0, 3, 2], [0, 2, 1]])
  # Every quad's two triangles cover it: total area 6 (a unit cube).
  tri = vertices[faces]
  area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
  assert area.sum() == pytest.approx(6.0)


def test_read_off_glued_header_crlf_and_colours(tmp_path):
  path = tmp_path / "glued.off"
  path.write_bytes(b"OFF4 2 0\r\n0 0 0\r\n1 0 0 255 0 0\r\n0 1 0\r\n0 0 1\r\n"
                   b"3 0 1 2 9 9 9\r\n3 0 2 3\r\n")
  vertices, faces = read_off(path)
  np.testing.assert_array_equal(vertices[1], [1, 0, 0])
  np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("text, message", [
    ("OFF\n8 6 0\n0 0 0\n", "truncated"),
    ("OFF\n3 1 0\n0 0 0\n1 0 x\n0 1 0\n3 0 1 2\n", "line 4"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", r"line 6: expected vertex indices in \[0, 2\]"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1\n", "line 6: expected a polygon of n >= 3"),
    ("OFF\n3 one 0\n", "line 2: expected counts"),
    ("PLY\n3 1 0\n", "line 1: expected the header 'OFF'"),
])
def test_read_off_malformed_files_name_file_and_line(tmp_path, text, message):
  path = tmp_path / "bad.off"
  path.write_text(text)
  with pytest.raises(ValueError, match=message) as info:
    read_off(path)
  assert "bad.off" in str(info.value)


def test_read_off_real_modelnet_mesh(shared_file):
  vertices, faces = read_off(shared_file("modelnet10_samples/toilet_0345.off"))
  assert vertices.shape == (6276, 3) and faces.shape == (6116, 3)
  np.testing.assert_allclose(vertices.max(0) - vertices.min(0), [13.8, 22.1528, 17.5], atol=1e-4)
  assert faces.min() == 0 and faces.max() < len(vertices)


@pytest.mark.parametrize("inner, pad, supersample", [(10, 1, 1), (8, 2, 3)])
def test_voxelize_box_matches_analytic_occupancy(inner, pad, supersample):
  low, high = np.array([0.3, -1.0, 2.0]), np.array([3.3, 0.2, 2.7])  # aspect 3 : 1.2 : 0.7
  vertices, faces = _box_mesh(low, high)
  got = voxelize_mesh(vertices, faces, grid=inner + 2 * pad, inner=inner, pad=pad,
                      supersample=supersample)
  inside = lambda p: np.all((p >= low) & (p <= high), axis=-1)
  want = _reference(inside, vertices, faces, inner, pad, supersample)
  np.testing.assert_array_equal(got, want)
  assert got.dtype == np.uint8 and got[:pad].sum() == 0 and got[..., -pad:].sum() == 0


def test_voxelize_octahedron_matches_half_spaces():
  vertices, faces = _octahedron()
  scale = np.array([1.0, 0.6, 0.8])
  inside = lambda p: np.abs(p / scale).sum(-1) <= 1
  got = voxelize_mesh(vertices, faces, grid=16, inner=14, pad=1, supersample=2)
  np.testing.assert_array_equal(got, _reference(inside, vertices, faces, 14, 1, 2))


def test_voxelize_carves_gap_between_two_boxes():
  a, fa = _box_mesh([0, 0, 0], [1, 1, 1])
  b, fb = _box_mesh([2, 0, 0], [3, 1, 1])
  vertices, faces = np.concatenate([a, b]), np.concatenate([fa, fb + 8])
  got = voxelize_mesh(vertices, faces, grid=12, inner=12, pad=0, supersample=1)
  # 3 units over 12 voxels: x voxels 0-3 and 8-11 are solid, 4-7 (the gap) empty; the unit
  # y and z sides are centred on voxels 4-7.
  assert got[:4, 4:8, 4:8].all() and got[8:, 4:8, 4:8].all()
  assert not got[4:8].any() and got.sum() == 2 * 4**3


def _iou(a, b):
  return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_voxelize_reproduces_binvox_30(shared_file):
  # toilet_0345_30.binvox: binvox at 120^3, reduced twice by -down (any of 2x2x2) to 30^3.
  vertices, faces = read_off(shared_file("modelnet10_samples/toilet_0345.off"))
  want = read_binvox(shared_file("modelnet10_samples/toilet_0345_30.binvox"))["voxels"]
  got = voxelize_mesh(vertices, faces, grid=30, inner=30, pad=0, supersample=4)
  assert _iou(got, want) > 0.998  # measured 0.99943: 3 of 5229 voxels missing, none extra


def test_voxelize_reproduces_modelnet_npz(shared_file):
  with np.load(shared_file("modelnet10_vox30.npz")) as data:
    test, train = data["X_test"], data["X_train"]  # each access decompresses the whole array
  cases = [("toilet_0345", test[808], 0.998),  # measured 0.99933
           ("bathtub_0002", train[1], 1.0),  # measured 1.0 (identical)
           ("bathtub_0004", train[3], 0.997)]  # measured 0.99878
  for name, want, threshold in cases:
    vertices, faces = read_off(shared_file(f"modelnet10_samples/{name}.off"))
    got = voxelize_mesh(vertices, faces)
    assert got.shape == (30, 30, 30)
    assert _iou(got, want) >= threshold, name


def test_voxelize_bad_arguments():
  vertices, faces = _box_mesh([0, 0, 0], [1, 1, 1])
  with pytest.raises(ValueError, match=r"grid: expected inner \+ 2 \* pad = 30, got 32"):
    voxelize_mesh(vertices, faces, grid=32)
  with pytest.raises(ValueError, match="faces: expected indices"):
    voxelize_mesh(vertices, faces + 1)
  with pytest.raises(ValueError, match="vertices: expected finite"):
    voxelize_mesh(np.where(vertices == 1, np.nan, vertices), faces)
  with pytest.raises(ValueError, match="vertices: expected shape"):
    voxelize_mesh(vertices[:, :2], faces)
  with pytest.raises(ValueError, match="non-zero extent"):
    voxelize_mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]))
  with pytest.raises(ValueError, match=r"^supersample: expected inner \* supersample <= 1024 fine "
                                       r"voxels per side .*got 24 \* 1000 = 24000$"):
    voxelize_mesh(vertices, faces, supersample=1000)
  with pytest.raises(ValueError, match=r"^grid: expected an integer in \[1, 1024\], got 100006 "
                                       r"\(the output is grid\^3 bytes\)"):
    voxelize_mesh(vertices, faces, grid=100_006, inner=6, pad=50_000)
