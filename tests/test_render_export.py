"""Mesh export to .obj and the reconstruction figure."""
import os

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from inverse3d import files
from inverse3d.render import depth_mesh, reconstruction_figure, save_obj, unproject

H, W = 5, 6


def surface():
  v, u = np.mgrid[0:H, 0:W]
  depth = (1.0 + 0.01 * u - 0.02 * v).astype(np.float32)
  albedo = np.stack([u / W, v / H, np.full((H, W), 0.25)], -1)
  return depth, albedo


def read_obj(path):
  records = {}
  with open(path) as f:
    for line in f:
      if line.strip() and not line.startswith("#"):
        key, *values = line.split()
        records.setdefault(key, []).append(values)
  return records


def test_vertex_colour_obj_holds_the_unprojected_mesh(tmp_path):
  depth, albedo = surface()
  depth[0, 0] = 3.0                                           # clamped to 1.1
  path = save_obj(tmp_path / "mesh.obj", depth, albedo)[0]
  records = read_obj(path)
  vertices = np.array(records["v"], float)
  expected = np.asarray(unproject(np.clip(depth, 0.9, 1.1)), float).reshape(-1, 3)
  expected[:, 2] += 1.0                                       # rotation centre at the origin
  np.testing.assert_allclose(vertices[:, :3], expected, atol=1e-6)
  np.testing.assert_allclose(vertices[:, 3:], albedo.reshape(-1, 3), atol=1e-4)
  faces = np.array(records["f"], int) - 1
  assert faces.shape == (2 * (H - 1) * (W - 1), 3)
  a, b, c = (vertices[faces[:, i], :3] for i in range(3))
  assert np.all(np.cross(b - a, c - a)[:, 2] > 0)             # counterclockwise seen from +z


def test_textured_obj_writes_material_and_texture(tmp_path):
  depth, albedo = surface()
  mask = np.ones((H, W), bool)
  mask[0, 0] = False
  written = save_obj(tmp_path / "face.obj", depth, albedo, texture=True, mask=mask)
  assert sorted(os.path.basename(p) for p in written) == ["face.mtl", "face.obj", "face.png"]
  assert sorted(os.listdir(tmp_path)) == ["face.mtl", "face.obj", "face.png"]  # no temp files
  records = read_obj(tmp_path / "face.obj")
  assert records["mtllib"] == [["face.mtl"]] and records["usemtl"] == [["albedo"]]
  assert "map_Kd face.png" in (tmp_path / "face.mtl").read_text()
  texture = np.asarray(Image.open(tmp_path / "face.png"), float) / 255
  np.testing.assert_allclose(texture, albedo, atol=0.5 / 255 + 1e-9)
  uv = np.array(records["vt"], float)
  np.testing.assert_allclose(uv[W + 2], [2 / (W - 1), 1 - 1 / (H - 1)])
  faces = [[int(x.split("/")[0]) - 1 for x in f] for f in records["f"]]
  assert len(faces) == 2 * (H - 1) * (W - 1) - 2              # both triangles touch (0, 0)
  assert all(0 not in f for f in faces)
  _, kept = depth_mesh(depth, mask=mask)
  np.testing.assert_array_equal(np.array(faces), kept)


def test_obj_rejects_bad_albedo(tmp_path):
  depth, albedo = surface()
  with pytest.raises(ValueError, match=r"albedo: expected 1 or 3 channels, got 2"):
    save_obj(tmp_path / "x.obj", depth, albedo[..., :2])
  with pytest.raises(ValueError, match=r"albedo: expected values in \[0.0, 1.0\]"):
    save_obj(tmp_path / "x.obj", depth, albedo + 1)
  assert os.listdir(tmp_path) == []


class _FailingWrites:
  """A file object whose writes raise, as on a full disk."""

  def __init__(self, f):
    self.f = f

  def write(self, data):
    raise OSError("No space left on device")

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.f.close()


@pytest.mark.parametrize("texture", [True, False])
def test_obj_export_is_all_or_nothing(tmp_path, monkeypatch, texture):
  depth, albedo = surface()
  real = files._temporary

  def temporary(path, mode):  # the .obj, written last, fails
    f, tmp = real(path, mode)
    return (_FailingWrites(f) if path.endswith(".obj") else f), tmp

  monkeypatch.setattr(files, "_temporary", temporary)
  with pytest.raises(OSError, match="No space left on device"):
    save_obj(tmp_path / "face.obj", depth, albedo, texture=texture)
  assert os.listdir(tmp_path) == []  # no .png, .mtl, .obj nor temporaries
  monkeypatch.setattr(files, "_temporary", real)
  assert len(save_obj(tmp_path / "face.obj", depth, albedo, texture=texture)) == (
      3 if texture else 1)


def test_obj_export_removes_the_texture_when_the_last_rename_fails(tmp_path, monkeypatch):
  depth, albedo = surface()
  real = os.replace

  def replace(src, dst):
    if str(dst).endswith(".obj"):
      raise PermissionError(f"cannot rename onto {dst}")
    real(src, dst)

  monkeypatch.setattr(files.os, "replace", replace)
  with pytest.raises(PermissionError, match="cannot rename onto"):
    save_obj(tmp_path / "face.obj", depth, albedo, texture=True)
  assert os.listdir(tmp_path) == []


def test_obj_checks_device_inputs_and_settings(tmp_path):
  depth, albedo = surface()
  bad = np.array(albedo)
  bad[1, 1, 0] = np.nan
  with pytest.raises(ValueError, match=r"albedo: expected finite values, got 1 NaN"):
    save_obj(tmp_path / "x.obj", jnp.asarray(depth), jnp.asarray(bad))  # read anyway: checked
  with pytest.raises(ValueError, match=r"albedo: expected a bool or .*got dtype complex128"):
    save_obj(tmp_path / "x.obj", depth, albedo.astype(complex))
  with pytest.raises(ValueError, match=r"depth: expected a signed .*got dtype complex64"):
    save_obj(tmp_path / "x.obj", depth.astype(np.complex64), albedo)
  with pytest.raises(ValueError, match=r"depth_range: expected finite \(low, high\) with low < "
                                       r"high in \[0.001, inf\], got \(nan, 1.1\)"):
    save_obj(tmp_path / "x.obj", depth, albedo, depth_range=(np.nan, 1.1))
  with pytest.raises(ValueError, match=r"centre_depth: expected finite values"):
    depth_mesh(depth, centre_depth=np.inf)
  with pytest.raises(ValueError, match=r"mask: expected shape \(5, 6\), got \(5, 5\)"):
    depth_mesh(depth, mask=np.ones((5, 5), bool))
  assert os.listdir(tmp_path) == []


def test_reconstruction_figure_rejects_bad_input(tmp_path):
  depth, albedo = surface()
  bad = np.array(albedo)
  bad[0, 0, 0] = np.nan
  with pytest.raises(ValueError, match=r"albedo: expected finite values, got 1 NaN"):
    reconstruction_figure(tmp_path / "fig.png", depth, jnp.asarray(bad))
  with pytest.raises(ValueError, match=r"count: expected an integer in \[2, 64\], got 1000 "
                                       r"\(one figure column each\)"):
    reconstruction_figure(tmp_path / "fig.png", depth, albedo, count=1000)
  with pytest.raises(ValueError, match=r"max_yaw_deg: expected finite values"):
    reconstruction_figure(tmp_path / "fig.png", depth, albedo, max_yaw_deg=np.nan)
  assert os.listdir(tmp_path) == []


def test_reconstruction_figure_is_written(tmp_path):
  v, u = np.mgrid[0:16, 0:16] / 16
  depth = 1.0 - 0.05 * np.exp(-((u - 0.5)**2 + (v - 0.5)**2) * 8)
  albedo = np.stack([u, v, 0.5 + 0 * u], -1)
  path = reconstruction_figure(tmp_path / "fig.png", depth, albedo, count=3, title="bump")
  image = Image.open(path)
  assert image.format == "PNG" and image.size[0] > 400 and image.size[1] > 300
  pixels = np.asarray(image.convert("L"), float)
  assert pixels.std() > 10                                    # not a blank canvas
