"""Procedural face model and face sampling, checked against NumPy float64 by hand."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.data import FaceModel, procedural_face_model, procedural_faces, sample_faces
from inverse3d.data.face_model import minmax_normalize

SMALL = dict(num_vertices=300, num_modes=12, num_albedo_modes=5)


def np_model(model):
  return FaceModel(*(np.asarray(a, np.int64 if a.dtype == jnp.int32 else np.float64)
                     for a in model))


def triangle_normals(points, triangles):
  a, b, c = (points[triangles[:, i]] for i in range(3))
  return np.cross(b - a, c - a)


def by_hand(model, alpha, beta):
  """float64 reference: mean + sum_k alpha_k basis[k], clipped albedo."""
  m = np_model(model)
  points = m.mean + np.einsum("nk,kvc->nvc", alpha, m.basis)
  albedo = np.clip(m.albedo_mean + np.einsum("nk,kvc->nvc", beta, m.albedo_basis), 0, 1)
  return points, albedo


def test_default_model_is_deterministic_and_well_formed():
  model = procedural_face_model()
  again = procedural_face_model.__wrapped__()  # a fresh build, bypassing the cache
  for a, b in zip(model, again):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  v = model.mean.shape[0]
  assert v == 4017
  assert model.basis.shape == (40, v, 3) and model.albedo_basis.shape == (10, v, 3)
  assert model.albedo_mean.shape == (v, 3) and model.triangles.shape[1] == 3
  assert model.mean.dtype == jnp.float32 and model.triangles.dtype == jnp.int32
  lo, hi = np.asarray(model.mean).min(0), np.asarray(model.mean).max(0)
  width, height, depth = hi - lo  # cm; the ICT face in shared/data is 15.0 x 19.9 x 10.7
  assert 13 < width < 16 and 18 < height < 21 and 7 < depth < 11


def test_seed_changes_only_the_random_modes():
  a = procedural_face_model(300, num_modes=25, seed=0)
  b = procedural_face_model(300, num_modes=25, seed=1)
  np.testing.assert_array_equal(np.asarray(a.basis[:20]), np.asarray(b.basis[:20]))
  assert not np.allclose(np.asarray(a.basis[20:]), np.asarray(b.basis[20:]))
  np.testing.assert_array_equal(np.asarray(a.mean), np.asarray(b.mean))


@pytest.mark.parametrize("num_vertices", [150, 1000, 54903])
def test_mesh_is_a_front_facing_disk(num_vertices):
  model = np_model(procedural_face_model(num_vertices, num_modes=3, num_albedo_modes=1))
  v, tri = model.mean.shape[0], model.triangles
  assert abs(v - num_vertices) < 0.05 * num_vertices
  assert tri.min() == 0 and tri.max() == v - 1
  assert len(np.unique(tri)) == v  # no unused vertex
  assert np.all(triangle_normals(model.mean, tri)[:, 2] > 0)  # counter-clockwise from +z
  directed = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
  assert len(np.unique(directed, axis=0)) == len(directed)  # consistent winding, manifold
  edges = np.unique(np.sort(directed, axis=1), axis=0)
  assert v - len(edges) + len(tri) == 1  # Euler characteristic of a disk: no holes


def test_mean_face_has_a_symmetric_face_layout():
  mean = np.asarray(procedural_face_model().mean, np.float64)
  x, y, z = mean.T
  lookup = {(round(a, 4), round(b, 4)): c for a, b, c in zip(x, y, z)}
  mirrored = np.array([lookup[(round(-a, 4), round(b, 4))] for a, b in zip(x, y)])
  np.testing.assert_allclose(mirrored, z, atol=1e-5)
  tip = np.argmax(z)
  assert abs(x[tip]) < 0.2 and 0.0 < y[tip] < 1.0  # the nose tip is the front-most point

  def depth_at(px, py):
    return z[np.argmin((x - px) ** 2 + (y - py) ** 2)]

  assert depth_at(3.15, 3.9) < depth_at(3.15, 5.1)   # eye socket below the brow
  assert depth_at(0.0, -3.3) < depth_at(0.0, -2.6)   # mouth line behind the upper lip
  groove = depth_at(0.0, -5.2)
  assert groove < depth_at(0.0, -6.4) and groove < depth_at(0.0, -4.0)  # chin, lower lip


def test_modes_are_orthogonal_with_decreasing_variance():
  model = np_model(procedural_face_model(1000, num_modes=30, num_albedo_modes=9))
  for basis, first, decay in ((model.basis, 0.2, 0.9), (model.albedo_basis, 0.05, 0.7)):
    flat = basis.reshape(len(basis), -1)
    gram = flat @ flat.T
    variances = np.diag(gram)
    assert np.all(np.diff(variances) < 0)
    np.testing.assert_allclose(gram - np.diag(variances), 0, atol=1e-5 * variances[0])
    rms = first * (1.0 + np.arange(len(basis))) ** -decay  # per coordinate, analytic
    np.testing.assert_allclose(np.sqrt(variances / flat.shape[1]), rms, rtol=1e-5)


def test_albedo_is_skin_with_darker_brows_and_redder_lips():
  model = procedural_face_model()
  mean, albedo = np.asarray(model.mean), np.asarray(model.albedo_mean)
  assert albedo.min() >= 0 and albedo.max() <= 1

  def colour_at(px, py):
    return albedo[np.argmin((mean[:, 0] - px) ** 2 + (mean[:, 1] - py) ** 2)]

  cheek, brow, lip = colour_at(4.0, -2.0), colour_at(3.0, 5.55), colour_at(0.0, -2.75)
  assert brow.sum() < 0.7 * cheek.sum()
  assert lip[0] / lip[1] > 1.2 * cheek[0] / cheek[1]


def test_sample_faces_matches_numpy_by_hand():
  model = procedural_face_model(**SMALL)
  key = jax.random.key(7)
  raw = sample_faces(key, model, 4, normalize=False)
  points, albedo = by_hand(model, np.asarray(raw["coefficients"], np.float64),
                           np.asarray(raw["albedo_coefficients"], np.float64))
  assert raw["coefficients"].shape == (4, 12) and raw["albedo_coefficients"].shape == (4, 5)
  np.testing.assert_allclose(raw["points"], points, atol=1e-4)
  np.testing.assert_allclose(raw["albedo"], albedo, atol=1e-5)
  normalized = sample_faces(key, model, 4)
  low, high = points.min(axis=1, keepdims=True), points.max(axis=1, keepdims=True)
  np.testing.assert_allclose(normalized["points"], (points - low) / (high - low), atol=1e-5)
  np.testing.assert_array_equal(normalized["coefficients"], raw["coefficients"])


def test_normalized_points_span_unit_cube_and_albedo_is_in_range():
  out = procedural_faces(jax.random.key(0), 5, num_vertices=300, num_modes=8)
  points, albedo = np.asarray(out["points"]), np.asarray(out["albedo"])
  assert points.shape == albedo.shape == (5, procedural_face_model(300, 8).mean.shape[0], 3)
  np.testing.assert_allclose(points.min(axis=1), 0, atol=1e-6)
  np.testing.assert_allclose(points.max(axis=1), 1, atol=1e-6)
  assert albedo.min() >= 0 and albedo.max() <= 1 and albedo.dtype == np.float32
  np.testing.assert_array_equal(out["triangles"],
                                procedural_face_model(300, 8).triangles)


def test_minmax_normalize_analytic_and_flat_axis():
  points = jnp.array([[[0.0, 2.0, 5.0], [4.0, 2.0, 7.0], [1.0, 2.0, 6.0]]])
  expected = [[[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.25, 0.0, 0.5]]]
  np.testing.assert_allclose(minmax_normalize(points), expected)


def test_sample_variance_along_each_mode_matches_the_model():
  model = procedural_face_model(**SMALL)
  n = 4000
  points = np.asarray(sample_faces(jax.random.key(1), model, n, normalize=False)["points"],
                      np.float64)
  m = np_model(model)
  deviations = (points - m.mean).reshape(n, -1)
  flat = m.basis.reshape(len(m.basis), -1)
  norms = np.linalg.norm(flat, axis=1)
  projected_var = ((deviations @ (flat / norms[:, None]).T) ** 2).mean(0)
  np.testing.assert_allclose(projected_var, norms ** 2, rtol=4 * np.sqrt(2 / n))
  assert np.abs(deviations.mean(0)).max() < 6 * norms[0] / np.sqrt(n)


def test_key_determines_the_sample_and_jit_agrees():
  model = procedural_face_model(**SMALL)
  a = sample_faces(jax.random.key(3), model, 2)
  b = sample_faces(jax.random.key(3), model, 2)
  c = sample_faces(jax.random.key(4), model, 2)
  jitted = jax.jit(sample_faces, static_argnums=(2, 3))(jax.random.key(3), model, 2, True)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_allclose(jitted[name], a[name], atol=1e-6)
  assert not np.allclose(a["points"], c["points"])
  faces = jax.jit(procedural_faces, static_argnums=(1, 2, 3))(jax.random.key(3), 2, 300, 12)
  assert faces["points"].shape == (2, model.mean.shape[0], 3)


def test_albedo_free_model_samples():
  model = procedural_face_model(300, num_modes=4, num_albedo_modes=0)
  out = sample_faces(jax.random.key(0), model, 2)
  assert out["albedo_coefficients"].shape == (2, 0)
  np.testing.assert_allclose(out["albedo"], np.broadcast_to(model.albedo_mean, (2,) +
                                                            model.albedo_mean.shape))


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3"])
def test_bad_n_is_named(n):
  with pytest.raises(ValueError, match=r"^n: expected an integer >= 1"):
    sample_faces(jax.random.key(0), procedural_face_model(**SMALL), n)


def test_bad_model_arguments_are_named():
  with pytest.raises(ValueError, match=r"num_vertices: expected an integer in \[100, 200000\], "
                                       r"got 10"):
    procedural_face_model(10)
  with pytest.raises(ValueError, match="num_modes"):
    procedural_face_model(150, num_modes=10_000)
  with pytest.raises(ValueError, match="num_albedo_modes"):
    procedural_face_model(150, num_albedo_modes=-1)
  model = procedural_face_model(**SMALL)
  broken = model._replace(basis=model.basis[:, :-1])
  v = model.mean.shape[0]
  with pytest.raises(ValueError, match=rf"model.basis: expected shape \(\?, {v}, 3\)"):
    sample_faces(jax.random.key(0), broken, 2)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(num_vertices=10 ** 9), r"^num_vertices: expected an integer in \[100, 200000\], got "
                                 r"1000000000 \(about 4x the Basel Face Model's 54,903"),
    (dict(num_modes=10 ** 6), r"^num_modes: expected an integer in \[1, 400\], got 1000000 "
                              r"\(the modes take 24 \* modes \* num_vertices bytes"),
])
def test_procedural_sizes_are_checked_before_any_work(kwargs, pattern):
  with pytest.raises(ValueError, match=pattern):
    procedural_faces(jax.random.key(0), 2, **kwargs)


def test_sample_count_is_checked_before_any_allocation():
  model = procedural_face_model(**SMALL)
  v = model.mean.shape[0]
  with pytest.raises(ValueError, match=rf"^n: expected n \* V \* 3 <= 2\*\*30 values per array "
                                       rf"\(4 GiB of float32\), got n=10000000 with V={v}"):
    sample_faces(jax.random.key(0), model, 10 ** 7)
