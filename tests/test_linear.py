"""Closed-form PCA and least squares against NumPy/SciPy float64 references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import subspace_angles

from inverse3d.linear import (DirectLS, LowDimLS, decode, encode, fit_affine, fit_code_mapping,
                              fit_direct_ls, fit_lowdim_ls, fit_pca, pca_method, predict)

SPECTRUM = np.array([30.0, 20.0, 14.0, 10.0, 7.0, 5.0, 3.5, 2.5])  # well separated, decaying


def low_rank(rng, n, d, spectrum=SPECTRUM, noise=0.05, offset=3.0):
  """(n, d) float32 rows: mean offset + a known spectrum + small isotropic noise."""
  u = np.linalg.qr(rng.standard_normal((n, len(spectrum))))[0]
  v = np.linalg.qr(rng.standard_normal((d, len(spectrum))))[0]
  x = (u * spectrum) @ v.T + noise * rng.standard_normal((n, d)) + offset * rng.random(d)
  return x.astype(np.float32)


def np_pca(x, k):
  """float64 reference: mean, top-k right singular vectors (k, d), singular values."""
  x = np.asarray(x, np.float64)
  mean = x.mean(0)
  _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
  return mean, vt[:k], s[:k]


def np_affine(inputs, targets, ridge=0.0):
  """float64 reference W, c of min |targets - inputs W - c|^2 + ridge |W|^2 (rows paired)."""
  inputs, targets = np.asarray(inputs, np.float64), np.asarray(targets, np.float64)
  xm, zm = inputs.mean(0), targets.mean(0)
  xc, zc = inputs - xm, targets - zm
  if ridge == 0:
    w = np.linalg.lstsq(xc, zc, rcond=None)[0]
  else:
    w = np.linalg.solve(xc.T @ xc + ridge * np.eye(xc.shape[1]), xc.T @ zc)
  return w, zm - xm @ w


def np_lowdim_predict(images, shapes, index, k_image, k_shape, test, ridge=0.0,
                      image_set=None, shape_set=None):
  """float64 reference of eqs 2-9; the PCAs come from image_set / shape_set when given."""
  mx, cx, _ = np_pca(images if image_set is None else image_set, k_image)
  mz, cz, _ = np_pca(shapes if shape_set is None else shape_set, k_shape)
  codes = (np.asarray(images, np.float64) - mx) @ cx.T
  targets = (np.asarray(shapes, np.float64)[index] - mz) @ cz.T
  w, c = np_affine(codes, targets, ridge)
  return ((np.asarray(test, np.float64) - mx) @ cx.T @ w + c) @ cz + mz


def max_angle(a, b):
  return float(np.max(subspace_angles(np.asarray(a, np.float64).T, np.asarray(b, np.float64).T)))


def multiview(rng, n_shapes=30, views=4, d_x=20, d_z=24):
  """Shapes (N, d_z), images (N * views, d_x) that depend linearly on their shape plus view
  effects and noise, and the shape_index of each image (shuffled)."""
  shapes = low_rank(rng, n_shapes, d_z, SPECTRUM[:5], noise=0.02)
  index = rng.permutation(np.repeat(np.arange(n_shapes), views))
  mix = rng.standard_normal((d_z, d_x)) / np.sqrt(d_z)
  images = shapes[index] @ mix + 0.3 * rng.standard_normal((len(index), d_x))
  return images.astype(np.float32), shapes, index.astype(np.int32)


@pytest.mark.parametrize("n,d", [(60, 40), (25, 70)])  # n > d and n < d
@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_pca_matches_numpy_svd(n, d, method):
  x = low_rank(np.random.default_rng(n + d), n, d)
  pca = fit_pca(x, 6, method, key=jax.random.key(0))
  mean, comps, s = np_pca(x, 6)
  np.testing.assert_allclose(pca.mean, mean, atol=1e-5)
  np.testing.assert_allclose(pca.singular_values, s, rtol=2e-4)
  for i in range(6):  # each well-separated component on its own, and the subspace
    assert max_angle(pca.components[i:i + 1], comps[i:i + 1]) < 1e-3
  assert max_angle(pca.components, comps) < 1e-3
  np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(6), atol=1e-5)
  peaks = np.take_along_axis(np.asarray(pca.components),
                             np.abs(pca.components).argmax(1)[:, None], 1)
  assert np.all(peaks > 0)  # sign convention: largest entry positive


@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_pca_rank_deficient(method):
  rng = np.random.default_rng(1)
  x = low_rank(rng, 40, 30, SPECTRUM[:3], noise=0.0)  # rank 3 after centring, k = 6
  pca = fit_pca(x, 6, method, key=jax.random.key(1))
  np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(6), atol=1e-5)
  _, comps, s = np_pca(x, 3)
  np.testing.assert_allclose(pca.singular_values[:3], s, rtol=1e-4)
  assert np.all(np.asarray(pca.singular_values[3:]) < 1e-4 * s[0])
  assert max_angle(pca.components[:3], comps) < 1e-3
  np.testing.assert_allclose(decode(pca, encode(pca, x)), x, atol=2e-5 * np.abs(x).max())


def test_pca_encode_decode_match_numpy():
  rng = np.random.default_rng(2)
  x = low_rank(rng, 50, 30)
  pca = fit_pca(x, 5)
  mean, comps, _ = np_pca(x, 5)
  codes = encode(pca, x[:7])
  signs = np.sign(np.sum(np.asarray(pca.components) * comps, axis=1))
  np.testing.assert_allclose(codes * signs, (x[:7] - mean) @ comps.T, atol=1e-3)
  np.testing.assert_allclose(decode(pca, codes), mean + (x[:7] - mean) @ comps.T @ comps,
                             atol=1e-3)


def test_pca_method_choice():
  assert pca_method(3991, 27000, 400, key_given=True) == "randomized"  # ModelNet shapes
  assert pca_method(3991, 27000, 400, key_given=False) == "exact"  # no key, no randomness
  assert pca_method(200, 50, 40, key_given=True) == "exact"  # k near min(n, d)
  x = low_rank(np.random.default_rng(3), 30, 20)
  auto, exact = fit_pca(x, 4), fit_pca(x, 4, "exact")
  for a, b in zip(auto, exact):
    np.testing.assert_array_equal(a, b)


def test_pca_jit_and_vmap():
  rng = np.random.default_rng(4)
  batch = np.stack([low_rank(rng, 30, 12) for _ in range(3)])
  fit = jax.jit(fit_pca, static_argnames=("k", "method"))
  eager = [fit_pca(x, 4, "exact") for x in batch]
  jitted = fit(batch[0], k=4, method="exact")
  np.testing.assert_allclose(jitted.components, eager[0].components, atol=1e-5)
  mapped = jax.vmap(lambda x: fit_pca(x, 4, "exact"))(batch)
  keys = jax.random.split(jax.random.key(5), 3)
  mapped_random = jax.vmap(lambda x, key: fit_pca(x, 4, "randomized", key))(batch, keys)
  for i in range(3):
    np.testing.assert_allclose(mapped.components[i], eager[i].components, atol=1e-4)
    assert max_angle(mapped_random.components[i], eager[i].components) < 1e-3


def test_direct_ls_matches_lstsq_single_and_multiview():
  rng = np.random.default_rng(6)
  images, shapes, index = multiview(rng)
  test = images[:9] + 0.1
  for ridge in (0.0, 2.5):
    w, c = np_affine(images, shapes[index], ridge)
    model = fit_direct_ls(images, shapes, ridge, shape_index=index)
    np.testing.assert_allclose(predict(model, test), test @ w + c, atol=2e-4)
    paired = fit_direct_ls(images, shapes[index], ridge)  # one shape row per image
    np.testing.assert_allclose(paired.weights, model.weights, atol=1e-4)
    np.testing.assert_allclose(paired.bias, model.bias, atol=1e-4)


def test_direct_ls_rank_deficient_and_few_samples():
  rng = np.random.default_rng(7)
  shapes = rng.standard_normal((40, 10)).astype(np.float32)
  base = rng.standard_normal((40, 6)).astype(np.float32)
  # duplicated and constant pixels: rank 6 in 10 columns
  images = np.concatenate([base, base[:, :3], np.ones((40, 1), np.float32)], axis=1)
  few = rng.standard_normal((8, 30)).astype(np.float32)  # n < d: interpolates
  for x, z in ((images, shapes), (few, shapes[:8])):
    w, c = np_affine(x, z)  # lstsq: minimum-norm solution
    model = fit_direct_ls(x, z)
    np.testing.assert_allclose(model.weights, w, atol=1e-4)
    np.testing.assert_allclose(predict(model, x), x @ w + c, atol=1e-4)
  np.testing.assert_allclose(predict(fit_direct_ls(few, shapes[:8]), few), shapes[:8], atol=1e-4)


def test_lowdim_ls_matches_numpy_multiview():
  rng = np.random.default_rng(8)
  images, shapes, index = multiview(rng)
  test = images[:9] * 0.9
  for ridge in (0.0, 1.0):
    model = fit_lowdim_ls(images, shapes, 5, 4, ridge, shape_index=index)
    assert isinstance(model, LowDimLS) and model.weights.shape == (5, 4)
    want = np_lowdim_predict(images, shapes, index, 5, 4, test, ridge)
    np.testing.assert_allclose(predict(model, test), want, atol=2e-3 * np.abs(want).max())


def test_lowdim_ls_rank_deficient_codes_and_few_samples():
  rng = np.random.default_rng(9)
  shapes = low_rank(rng, 12, 40, SPECTRUM[:4], noise=0.0)  # 12 shapes < 40 values, rank 4
  images = low_rank(rng, 12, 30, SPECTRUM[:3], noise=0.0)  # rank 3, but 5 image codes
  index = np.arange(12)
  model = fit_lowdim_ls(images, shapes, 5, 4, shape_index=index, method="exact")
  want = np_lowdim_predict(images, shapes, index, 3, 4, images)  # null codes drop out
  np.testing.assert_allclose(predict(model, images), want, atol=2e-3 * np.abs(want).max())


def test_unpaired_pretraining():
  """PCAs fitted on unlabeled, unpaired sets; only the code map sees the pairs."""
  rng = np.random.default_rng(10)
  images, shapes, index = multiview(rng, n_shapes=40)
  unlabeled_images = images[::-1][:100] + 0.05 * rng.standard_normal((100, 20)).astype(np.float32)
  unlabeled_shapes = low_rank(rng, 60, 24, SPECTRUM[:5], noise=0.02)
  image_pca, shape_pca = fit_pca(unlabeled_images, 5), fit_pca(unlabeled_shapes, 4)
  paired = index < 10  # labels for 10 shapes only
  model = fit_code_mapping(image_pca, shape_pca, images[paired], shapes, shape_index=index[paired])
  want = np_lowdim_predict(images[paired], shapes, index[paired], 5, 4, images[:6],
                           image_set=unlabeled_images, shape_set=unlabeled_shapes)
  np.testing.assert_allclose(predict(model, images[:6]), want, atol=2e-3 * np.abs(want).max())
  same = fit_code_mapping(fit_pca(images, 5), fit_pca(shapes, 4), images, shapes,
                          shape_index=index)
  full = fit_lowdim_ls(images, shapes, 5, 4, shape_index=index)
  np.testing.assert_allclose(predict(same, images), predict(full, images), atol=1e-4)


def test_least_squares_jit_and_vmap():
  rng = np.random.default_rng(11)
  images, shapes, index = multiview(rng)
  lowdim = jax.jit(fit_lowdim_ls, static_argnames=("k_image", "k_shape", "method"))
  eager = fit_lowdim_ls(images, shapes, 5, 4, 0.5, shape_index=index)
  jitted = lowdim(images, shapes, k_image=5, k_shape=4, ridge=0.5, shape_index=index)
  np.testing.assert_allclose(jax.jit(predict)(jitted, images), predict(eager, images), atol=1e-4)
  ridges = jnp.array([0.0, 1.0, 10.0])
  path = jax.vmap(lambda r: fit_direct_ls(images, shapes, r, shape_index=index))(ridges)
  assert isinstance(path, DirectLS) and path.weights.shape == (3, 20, 24)
  batched = jax.vmap(predict, in_axes=(0, None))(path, images[:5])
  for i, ridge in enumerate([0.0, 1.0, 10.0]):
    one = fit_direct_ls(images, shapes, ridge, shape_index=index)
    np.testing.assert_allclose(batched[i], predict(one, images[:5]), atol=1e-4)
  lowdim_path = jax.vmap(lambda r: fit_lowdim_ls(images, shapes, 5, 4, r, shape_index=index))(
      ridges)
  np.testing.assert_allclose(jax.vmap(predict, in_axes=(0, None))(lowdim_path, images[:5])[1],
                             predict(fit_lowdim_ls(images, shapes, 5, 4, 1.0, shape_index=index),
                                     images[:5]), atol=1e-4)


def _raises(match, fn, *args, **kwargs):
  with pytest.raises(ValueError, match=match):
    fn(*args, **kwargs)


def test_bad_input_names_argument_expected_and_received():
  rng = np.random.default_rng(12)
  x = rng.standard_normal((10, 6)).astype(np.float32)
  z = rng.standard_normal((10, 4)).astype(np.float32)
  _raises(r"k: expected an integer in \[1, 6\], got 7", fit_pca, x, 7)
  _raises(r"k: expected an integer in \[1, 3\], got 4 \(at most min\(n - 1, d\)", fit_pca,
          x[:4], 4)
  _raises(r"k_shape: expected an integer in \[1, 4\], got 5", fit_lowdim_ls, x, z, 2, 5)
  _raises(r"k_image: expected an integer in \[1, 6\], got 0", fit_lowdim_ls, x, z, 0, 2)
  _raises(r"x: expected shape \(\?, \?\), got \(10, 2, 3\)", fit_pca, x.reshape(10, 2, 3), 2)
  _raises(r"x: expected at least 2 entries along axis 0, got shape \(1, 6\)", fit_pca, x[:1], 1)
  _raises(r"images: expected at least 1 entries along axis 0, got shape \(0, 6\)",
          fit_direct_ls, x[:0], z[:0])
  _raises(r"shapes: expected at least 1 entries along axis 1, got shape \(10, 0\)",
          fit_direct_ls, x, z[:, :0])
  _raises(r"images: expected shape \(9, \?\), got \(10, 6\)", fit_direct_ls, x, z[:9])
  _raises(r"shape_index: expected shape \(10\), got \(9,\)", fit_direct_ls, x, z,
          shape_index=np.arange(9))
  _raises(r"shape_index: expected values in \[0, 9\], got \[1, 10\]", fit_direct_ls, x, z,
          shape_index=np.arange(1, 11))
  _raises(r"shape_index: expected a signed integer or unsigned integer array, got dtype float",
          fit_direct_ls, x, z, shape_index=np.arange(10.0))
  _raises(r"ridge: expected values in \[0, inf\], got \[-1.0, -1.0\]", fit_direct_ls, x, z, -1.0)
  _raises(r"ridge: expected shape \(\), got \(2,\)", fit_direct_ls, x, z, np.ones(2))
  for bad in (np.nan, np.inf):
    y = x.copy()
    y[3, 2] = bad
    _raises(r"x: expected finite values, got 1 NaN or inf entries", fit_pca, y, 2)
    _raises(r"images: expected finite values, got 1 NaN or inf", fit_lowdim_ls, y, z, 2, 2)
    _raises(r"shapes: expected finite values", fit_direct_ls, z, y)
  _raises(r"method: expected one of \['auto', 'exact', 'randomized'\], got 'svd'", fit_pca, x, 2,
          "svd")
  _raises(r"key: expected a jax.random key for method='randomized', got None", fit_pca, x, 2,
          "randomized")
  model = fit_direct_ls(x, z)
  _raises(r"images: expected shape \(\?, 6\), got \(3, 5\)", predict, model, x[:3, :5])
  _raises(r"x: expected shape \(\?, 6\), got \(3, 4\)", encode, fit_pca(x, 2), z[:3])
  with pytest.raises(TypeError, match="model: expected a LowDimLS or DirectLS, got tuple"):
    predict((model.weights, model.bias), x)


def test_complex_input_is_rejected_naming_the_argument():
  rng = np.random.default_rng(13)
  x = rng.standard_normal((10, 6)).astype(np.float32)
  z = rng.standard_normal((10, 4)).astype(np.float32)
  xc, zc = x.astype(np.complex64), jnp.asarray(z, jnp.complex64)  # NumPy and device arrays
  wanted = "expected a bool or signed integer or unsigned integer or float array, got dtype"
  _raises(rf"^x: {wanted} complex64", fit_pca, xc, 2)
  _raises(rf"^images: {wanted} complex64", fit_direct_ls, xc, z)
  _raises(rf"^shapes: {wanted} complex64", fit_direct_ls, x, zc)
  _raises(rf"^images: {wanted} complex64", fit_lowdim_ls, xc, z, 2, 2)
  _raises(rf"^inputs: {wanted} complex64", fit_affine, xc, z)
  _raises(rf"^ridge: {wanted} complex128", fit_direct_ls, x, z, np.complex128(1.0))
  pca = fit_pca(x, 3)
  _raises(rf"^shapes: {wanted} complex64", fit_code_mapping, pca, fit_pca(z, 2), x, zc)
  _raises(rf"^x: {wanted} complex64", encode, pca, xc)
  _raises(rf"^images: {wanted} complex64", predict, fit_direct_ls(x, z), xc)


def test_name_argument_names_the_dataset_in_errors():
  rng = np.random.default_rng(14)
  x = rng.standard_normal((10, 6)).astype(np.float32)
  z = rng.standard_normal((10, 4)).astype(np.float32)
  y = x.copy()
  y[3, 2] = np.nan
  faces = "images of procedural_faces"
  _raises(rf"^{faces}: expected finite values, got 1 NaN or inf entries", fit_pca, y, 2,
          name=faces)
  _raises(rf"^{faces}: expected shape \(\?, \?\), got \(60,\)", fit_pca, x.ravel(), 2, name=faces)
  _raises(rf"^{faces}: expected at least 2 entries along axis 0", fit_pca, x[:1], 1, name=faces)
  names = ("images of modelnet10", "shapes of modelnet10")
  _raises(r"^images of modelnet10: expected finite values", fit_direct_ls, y, z, names=names)
  _raises(r"^shapes of modelnet10: expected finite values", fit_direct_ls, z, y, names=names)
  _raises(r"^images of modelnet10: expected shape \(9, \?\)", fit_direct_ls, x, z[:9],
          names=names)
  _raises(r"^images of modelnet10: expected finite", fit_lowdim_ls, y, z, 2, 2, names=names)
  pca, shape_pca = fit_pca(x, 3), fit_pca(z, 2)
  _raises(r"^shapes of modelnet10: expected finite", fit_code_mapping, pca, shape_pca, x,
          np.where(z > 1, np.inf, z), names=names)
  _raises(r"^codes of images: expected finite", fit_affine, y, z, names=("codes of images", "b"))
  _raises(r"^test images: expected finite", encode, pca, y, name="test images")
  _raises(r"^test images: expected shape \(\?, 6\)", predict, fit_direct_ls(x, z), x[:, :5],
          name="test images")
  _raises(r"^names: expected two strings \(inputs, targets\), got 'images'", fit_direct_ls, x,
          z, names="images")
  fit = jax.jit(fit_pca, static_argnames=("k", "name"))
  np.testing.assert_allclose(fit(x, k=2, name=faces).components, fit_pca(x, 2).components,
                             atol=1e-5)


def test_device_inputs_make_no_host_reads(count_host_reads):
  rng = np.random.default_rng(15)
  x = jnp.asarray(rng.standard_normal((12, 6)), jnp.float32)
  z = jnp.asarray(rng.standard_normal((12, 4)), jnp.float32)
  index = jnp.arange(12)
  pca = fit_pca(x, 3)
  direct = fit_direct_ls(x, z, jnp.float32(0.1), shape_index=index)
  predict(direct, x), encode(pca, x)
  assert count_host_reads.count == 0, count_host_reads.sites
