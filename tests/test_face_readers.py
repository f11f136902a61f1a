"""Morphable face model files: the real ICT model, BFM 2009 .mat and BFM 2017 .h5 layouts."""
import h5py
import jax
import numpy as np
import pytest
import scipy.io

from inverse3d.data import load_face_model, procedural_face_model, sample_faces
from inverse3d.data.face_model import SKIN_RGB
from inverse3d.data.face_readers import orient_triangles

K, KA = 5, 3


@pytest.fixture(scope="module")
def source():
  """A small face-shaped mesh and random orthonormal PCA bases in BFM's flat (3V, K) layout."""
  model = procedural_face_model(150, num_modes=1, num_albedo_modes=0)
  mean, tri = np.asarray(model.mean, np.float64), np.asarray(model.triangles, np.int64)
  v = len(mean)
  rng = np.random.default_rng(0)
  shape_pc = np.linalg.qr(rng.normal(size=(3 * v, K)))[0]
  tex_pc = np.linalg.qr(rng.normal(size=(3 * v, KA)))[0]
  return dict(v=v, mean=mean, triangles=tri, shape_pc=shape_pc, tex_pc=tex_pc,
              shape_std=np.array([3e4, 2e4, 1e4, 5e3, 1e3]), tex_std=np.array([30., 20., 5.]),
              tex_mean=rng.uniform(60, 200, size=3 * v))


def write_bfm2009(path, s, drop=None):
  data = dict(shapeMU=(s["mean"] * 1e4).reshape(-1, 1), shapePC=s["shape_pc"],
              shapeEV=s["shape_std"].reshape(-1, 1), texMU=s["tex_mean"].reshape(-1, 1),
              texPC=s["tex_pc"], texEV=s["tex_std"].reshape(-1, 1),
              tl=(s["triangles"][:, ::-1] + 1).astype(np.float64))  # clockwise, 1-based
  data.pop(drop, None)
  scipy.io.savemat(path, {k: v.astype(np.float32) if k != "tl" else v for k, v in data.items()})


def write_bfm2017(path, s, drop=None):
  colour_std = s["tex_std"] / 255.0
  data = {"shape/model/mean": s["mean"].reshape(-1) * 10.0,
          "shape/model/pcaBasis": s["shape_pc"],
          "shape/model/pcaVariance": (s["shape_std"] / 1e3) ** 2,
          "color/model/mean": s["tex_mean"] / 255.0,
          "color/model/pcaBasis": s["tex_pc"],
          "color/model/pcaVariance": colour_std ** 2,
          "shape/representer/cells": s["triangles"].T.astype(np.uint32)}
  data.pop(drop, None)
  with h5py.File(path, "w") as f:
    for key, value in data.items():
      f.create_dataset(key, data=np.asarray(value, np.float32 if key[-5:] != "cells" else None))


def check_samples_by_hand(model, mean_flat, pc, std, tex_flat, tex_pc, tex_std, triangles):
  """load_face_model + sample_faces == the textbook formula in NumPy float64."""
  np.testing.assert_array_equal(model.triangles, triangles)
  out = sample_faces(jax.random.key(2), model, 3, normalize=False)
  alpha = np.asarray(out["coefficients"], np.float64)
  beta = np.asarray(out["albedo_coefficients"], np.float64)
  points = (mean_flat[:, None] + pc @ (std[:, None] * alpha.T)).T.reshape(len(alpha), -1, 3)
  albedo = np.clip((tex_flat[:, None] + tex_pc @ (tex_std[:, None] * beta.T)).T, 0, 1)
  scale = np.abs(points).max()
  np.testing.assert_allclose(out["points"], points, atol=2e-6 * scale)
  np.testing.assert_allclose(out["albedo"], albedo.reshape(len(beta), -1, 3), atol=1e-5)
  normalized = sample_faces(jax.random.key(2), model, 3)["points"]
  low, high = points.min(axis=1, keepdims=True), points.max(axis=1, keepdims=True)
  np.testing.assert_allclose(normalized, (points - low) / (high - low), atol=1e-5)


def test_bfm2009_mat_round_trip(tmp_path, source):
  path = tmp_path / "01_MorphableModel.mat"
  write_bfm2009(path, source)
  model = load_face_model(path)
  v = source["v"]
  assert model.mean.shape == (v, 3) and model.basis.shape == (K, v, 3)
  assert model.albedo_basis.shape == (KA, v, 3)
  np.testing.assert_allclose(model.mean, source["mean"] * 1e4, rtol=1e-6)
  np.testing.assert_allclose(model.basis[1], 2e4 * source["shape_pc"][:, 1].reshape(v, 3),
                             rtol=1e-5, atol=1e-3)
  check_samples_by_hand(
      model, np.float32(source["mean"] * 1e4).reshape(-1).astype(np.float64),
      np.float32(source["shape_pc"]).astype(np.float64), source["shape_std"],
      np.float32(source["tex_mean"]).astype(np.float64) / 255,
      np.float32(source["tex_pc"]).astype(np.float64), source["tex_std"] / 255,
      source["triangles"])  # BFM's clockwise triangles come back counter-clockwise


def test_bfm2017_h5_round_trip(tmp_path, source):
  path = tmp_path / "model2017-1_bfm_nomouth.h5"
  write_bfm2017(path, source)
  model = load_face_model(path)
  assert model.basis.shape == (K, source["v"], 3)
  f32 = lambda a: np.float32(a).astype(np.float64)  # noqa: E731 (the file stores float32)
  check_samples_by_hand(
      model, f32(source["mean"].reshape(-1) * 10.0), f32(source["shape_pc"]),
      np.sqrt(f32((source["shape_std"] / 1e3) ** 2)), f32(source["tex_mean"] / 255.0),
      f32(source["tex_pc"]), np.sqrt(f32((source["tex_std"] / 255.0) ** 2)),
      source["triangles"])


def test_ict_model_from_shared_data(shared_file):
  path = shared_file("face_model_ict.npz")
  with np.load(path) as data:
    raw = {k: data[k] for k in ("mean", "basis", "basis_orth", "triangles")}
  model = load_face_model("face_model_ict.npz")  # a bare name resolves to the shared folder
  v = 6706
  assert model.mean.shape == (v, 3) and model.basis.shape == (100, v, 3)
  assert model.albedo_basis.shape == (0, v, 3) and model.triangles.shape == (13120, 3)
  np.testing.assert_allclose(model.albedo_mean, np.broadcast_to(SKIN_RGB, (v, 3)), rtol=1e-6)
  np.testing.assert_array_equal(model.triangles, raw["triangles"])  # already counter-clockwise

  # The orthonormal modes describe the same Gaussian as the stored `basis`: equal covariance
  # B^T B, probed with random directions.
  probes = np.random.default_rng(0).normal(size=(3 * v, 8))
  flat = np.asarray(model.basis, np.float64).reshape(100, -1) @ probes
  reference = raw["basis"].astype(np.float64).reshape(100, -1) @ probes
  np.testing.assert_allclose(flat.T @ flat, reference.T @ reference, rtol=1e-4,
                             atol=1e-4 * np.abs(reference.T @ reference).max())

  n = 400
  out = sample_faces(jax.random.key(0), model, n, normalize=False)
  points = np.asarray(out["points"], np.float64)
  mean, basis = raw["mean"].astype(np.float64), raw["basis_orth"].astype(np.float64)
  by_hand = mean + np.einsum("k,kvc->vc", np.asarray(out["coefficients"][5], np.float64), basis)
  np.testing.assert_allclose(points[5], by_hand, atol=1e-4)
  std = np.sqrt((basis ** 2).sum(0))
  assert np.all(np.abs(points.mean(0) - mean) < 6 * std / np.sqrt(n) + 1e-5)
  np.testing.assert_allclose(points.std(0).mean(), std.mean(), rtol=0.05)


def test_orient_triangles_reverses_only_back_facing_sets():
  mean = np.array([[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [1., 1., 0.]])
  front = np.array([[0, 1, 2], [1, 3, 2]])
  np.testing.assert_array_equal(orient_triangles(mean, front), front)
  np.testing.assert_array_equal(orient_triangles(mean, front[:, ::-1]), front[:, ::-1][:, ::-1])


@pytest.mark.parametrize("name, hint", [("01_MorphableModel.mat", "faces.dmi.unibas.ch"),
                                        ("model2017-1_bfm_nomouth.h5", "faces.dmi.unibas.ch"),
                                        ("my_face_model_ict.npz", "ICT-FaceKit")])
def test_missing_file_says_where_to_get_it(tmp_path, name, hint):
  with pytest.raises(FileNotFoundError, match=f"path: expected an existing file.*{hint}.*"):
    load_face_model(tmp_path / name)


def test_unknown_extension():
  with pytest.raises(ValueError, match=r"path extension: expected one of .*'.mat'.*got '.obj'"):
    load_face_model("/nowhere/face.obj")


@pytest.mark.parametrize("writer, suffix, drop", [(write_bfm2009, ".mat", "tl"),
                                                  (write_bfm2017, ".h5", "color/model/mean")])
def test_missing_array_is_named(tmp_path, source, writer, suffix, drop):
  path = tmp_path / f"model{suffix}"
  writer(path, source, drop=drop)
  with pytest.raises(ValueError, match=f"{path}: expected .*missing \\['{drop}'\\]"):
    load_face_model(path)


def test_npz_missing_array_is_named(tmp_path):
  path = tmp_path / "face.npz"
  np.savez(path, mean=np.zeros((4, 3)), triangles=np.zeros((1, 3), np.int32))
  with pytest.raises(ValueError, match=r"face.npz: expected arrays .*missing \['basis_orth'\]"):
    load_face_model(path)


@pytest.mark.parametrize("writer, suffix", [(write_bfm2009, ".mat"), (write_bfm2017, ".h5"),
                                            (None, ".npz")])
def test_truncated_file_is_a_clear_error(tmp_path, source, writer, suffix):
  whole = tmp_path / f"whole{suffix}"
  if writer is None:
    np.savez_compressed(whole, mean=source["mean"], basis_orth=np.zeros((2, source["v"], 3)),
                        triangles=source["triangles"])
  else:
    writer(whole, source)
  cut = tmp_path / f"cut{suffix}"
  cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
  with pytest.raises(ValueError, match=f"{cut}: corrupt or truncated"):
    load_face_model(cut)


def test_out_of_range_triangles_are_named(tmp_path, source):
  path = tmp_path / "face.npz"
  v = source["v"]
  np.savez(path, mean=source["mean"], basis_orth=np.zeros((2, v, 3)),
           triangles=np.array([[0, 1, v]]))
  with pytest.raises(ValueError, match=rf"triangles: expected indices in \[0, {v - 1}\]"):
    load_face_model(path)
