"""Models: dense/conv components against NumPy float64, PCA init, the composed framework,
Table 1 sizes and clear errors for bad configs and inputs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.mapping import build_model, default_config, init_from_pca, init_params
from inverse3d.models import ConvDecoder, ConvEncoder, ConvMapping, MLP

KEY = jax.random.key(0)


def tiny_model_config(**overrides):
  """Faces-like model on 8x8 images and 10-point clouds, codes 6 and 5."""
  config = default_config("points", shape_shape=(10, 3), image_shape=(8, 8, 1),
                          image_encoder="linear", mapping="linear", shape_decoder="linear").model
  config.image_code, config.shape_code = 6, 5
  config.mapping.hidden = ()
  for key, value in overrides.items():
    config[key] = value
  return config


def numpy_params(init, *inputs, seed=0):
  """Random float32 params with the structure ``init`` makes (NumPy draws: no XLA compile)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(init, KEY, *inputs)
  shapes = shapes.get("params", shapes)
  return jax.tree.map(lambda s: (0.3 * rng.standard_normal(s.shape)).astype(np.float32), shapes)


def numpy_pca(x, k):
  """mean (d,), components (k, d) of rows of x (n, ...), in float64."""
  flat = np.asarray(x, np.float64).reshape(len(x), -1)
  mean = flat.mean(0)
  _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
  return mean, vt[:k]


def test_mlp_matches_numpy_float64():
  rng = np.random.default_rng(0)
  x = rng.random((4, 3, 2), dtype=np.float32)
  for act, out_act, np_act, np_out in [
      ("identity", "identity", lambda h: h, lambda h: h),
      ("relu", "sigmoid", lambda h: np.maximum(h, 0), lambda h: 1 / (1 + np.exp(-h)))]:
    model = MLP((2, 5), hidden=(7,), activation=act, out_activation=out_act)
    params = numpy_params(model.init, x)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    h = np_act(x.reshape(4, -1) @ p["hidden_0"]["kernel"] + p["hidden_0"]["bias"])
    want = np_out(h @ p["out"]["kernel"] + p["out"]["bias"]).reshape(4, 2, 5)
    np.testing.assert_allclose(model.apply({"params": params}, x), want, rtol=1e-5, atol=1e-6)


def test_conv_mapping_is_a_1d_convolution_then_dense():
  rng = np.random.default_rng(1)
  y = rng.standard_normal((3, 6)).astype(np.float32)
  model = ConvMapping(4, channels=5, kernel=3)
  params = numpy_params(model.init, y)
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  padded = np.pad(y.astype(np.float64), ((0, 0), (1, 1)))
  conv = np.stack([padded[:, i:i + 3] @ p["conv"]["kernel"][:, 0, :] for i in range(6)], 1)
  hidden = np.maximum(conv + p["conv"]["bias"], 0)  # (3, 6 positions, 5 channels)
  want = hidden.reshape(3, -1) @ p["out"]["kernel"] + p["out"]["bias"]
  np.testing.assert_allclose(model.apply({"params": params}, y), want, rtol=1e-5, atol=1e-5)


def test_conv_encoder_and_decoder_shapes_2d_and_3d():
  images = jnp.zeros((2, 8, 8, 3))
  voxels = jnp.zeros((2, 6, 6, 6))
  enc2 = ConvEncoder(7, spatial_dims=2, channels=(4, 3))
  enc3 = ConvEncoder(7, spatial_dims=3, channels=(2,))
  assert enc2.apply({"params": numpy_params(enc2.init, images)}, images).shape == (2, 7)
  assert enc3.apply({"params": numpy_params(enc3.init, voxels)}, voxels).shape == (2, 7)
  codes = jnp.ones((2, 7))
  dec2 = ConvDecoder((6, 5), out_channels=2, channels=(4,), out_activation="sigmoid")
  out = dec2.apply({"params": numpy_params(dec2.init, codes)}, codes)
  assert out.shape == (2, 6, 5, 2) and float(out.min()) > 0 and float(out.max()) < 1
  dec3 = ConvDecoder((5, 5, 6), channels=(3, 2))  # coarse 2x2x2 -> 8^3, cropped
  assert dec3.apply({"params": numpy_params(dec3.init, codes)}, codes).shape == (2, 5, 5, 6)


def test_table1_sizes_for_objects_with_conv_components():
  config = default_config("voxels", shape_shape=(30, 30, 30), image_encoder="conv",
                          mapping="conv", shape_decoder="conv").model
  model = build_model(config)
  shapes = jax.eval_shape(lambda: init_params(model, KEY))
  assert shapes["image_encoder"]["conv_0"]["kernel"].shape == (3, 3, 1, 32)
  assert shapes["image_encoder"]["conv_1"]["kernel"].shape == (3, 3, 32, 16)
  assert shapes["image_encoder"]["out"]["kernel"].shape == (8 * 8 * 16, 60)
  assert shapes["mapping"]["conv"]["kernel"].shape == (3, 1, 100)
  assert shapes["mapping"]["out"]["kernel"].shape == (60 * 100, 400)
  assert shapes["shape_decoder"]["deconv_0"]["kernel"].shape == (3, 3, 3, 32, 16)
  assert shapes["shape_encoder"]["out"]["kernel"].shape[-1] == 400
  out = jax.eval_shape(lambda p: model.apply({"params": p}, jnp.zeros((2, 32, 32, 1)),
                                             method="predict"), shapes)
  assert out.shape == (2, 30, 30, 30)
  ff = build_model(default_config("points", shape_shape=(50, 3), mapping="ff",
                                  shape_decoder="ff").model)
  ff_shapes = jax.eval_shape(lambda: init_params(ff, KEY))
  assert ff_shapes["mapping"]["hidden_0"]["kernel"].shape == (60, 100)
  assert ff_shapes["mapping"]["out"]["kernel"].shape == (100, 98)
  assert ff_shapes["shape_decoder"]["hidden_0"]["kernel"].shape == (98, 200)
  assert ff_shapes["shape_decoder"]["out"]["kernel"].shape == (200, 150)


def test_closed_form_low_dim_ls_through_the_framework():
  """Section 4.1: PCA encoders/decoders and an LS mapping give z = mean_z + U_z T U_x^T x."""
  rng = np.random.default_rng(2)
  x = rng.random((30, 8, 8, 1)).astype(np.float32)
  z = rng.random((30, 10, 3)).astype(np.float32)
  model = build_model(tiny_model_config())
  params = numpy_params(lambda key: init_params(model, key))
  mean_x, ux = numpy_pca(x, 6)
  mean_z, uz = numpy_pca(z, 5)
  y = (x.reshape(30, -1) - mean_x) @ ux.T
  b = (z.reshape(30, -1) - mean_z) @ uz.T
  t, *_ = np.linalg.lstsq(y, b, rcond=None)  # (6, 5): b ~ y @ t
  params = init_from_pca(params, "image_encoder", mean_x, ux)
  params = init_from_pca(params, "shape_encoder", mean_z.reshape(10, 3), uz)
  params = init_from_pca(params, "shape_decoder", mean_z, uz)
  params = {**params, "mapping": {"out": {"kernel": jnp.asarray(t, jnp.float32),
                                          "bias": jnp.zeros(5)}}}
  want = (mean_z + y @ t @ uz).reshape(30, 10, 3)
  got = model.apply({"params": params}, x, method="predict")
  np.testing.assert_allclose(got, want, atol=2e-5)
  recon = model.apply({"params": params}, z, method="reconstruct_shapes")
  np.testing.assert_allclose(recon, (mean_z + b @ uz).reshape(30, 10, 3), atol=2e-5)
  # Rank-5 data lies in its own 5-dim PCA subspace: the 3D autoencoder reproduces it.
  low = (mean_z + rng.standard_normal((30, 5)) @ uz).reshape(30, 10, 3).astype(np.float32)
  m5, u5 = numpy_pca(low, 5)
  exact = init_from_pca(init_from_pca(params, "shape_encoder", m5, u5), "shape_decoder", m5, u5)
  np.testing.assert_allclose(model.apply({"params": exact}, low, method="reconstruct_shapes"),
                             low, atol=2e-5)


@pytest.mark.parametrize("change, message", [
    ({"mapping": {"name": "transformer"}}, "config.model.mapping.name: expected one of"),
    ({"mapping": {"name": "ff", "hiden": (3,)}}, "got unknown ['hiden']"),
    ({"shape_decoder": {"hidden": ()}}, "config.model.shape_decoder: expected a 'name' field"),
    ({"shape_decoder": {"name": "conv"}}, "expected voxel shapes (D, H, W)"),
    ({"image_encoder": {"name": "alexnet"}}, "on images of shape (227, 227, 3)"),
    ({"shape_encoder": {"name": "alexnet"}}, "expected 'alexnet' only as image_encoder"),
    ({"image_code": 0}, "config.model.image_code: expected an integer >= 1"),
    ({"shape_shape": (10, 2)}, "config.model.shape_shape: expected (V, 3) points"),
    ({"mapping": {"name": "ff", "activation": "swishy"}}, "activation: expected one of"),
])
def test_bad_configs_raise_clear_errors(change, message):
  with pytest.raises(ValueError) as err:
    model = build_model(tiny_model_config(**change))
    jax.eval_shape(lambda: init_params(model, KEY))
  assert message in str(err.value)


def test_bad_inputs_raise_clear_errors():
  model = build_model(tiny_model_config())
  params = numpy_params(lambda key: init_params(model, key))
  with pytest.raises(ValueError,
                     match=r"images: expected shape \(N, 8, 8, 1\), got \(2, 8, 8, 3\)"):
    model.apply({"params": params}, jnp.zeros((2, 8, 8, 3)), method="predict")
  with pytest.raises(ValueError, match=r"shapes: expected shape \(N, 10, 3\), got \(2, 9, 3\)"):
    model.apply({"params": params}, jnp.zeros((2, 9, 3)), method="reconstruct_shapes")
  with pytest.raises(ValueError, match=r"PCA params for shape_decoder: expected out/kernel with "
                                       r"shape \(5, 30\), got \(4, 30\)"):
    init_from_pca(params, "shape_decoder", np.zeros(30), np.zeros((4, 30)))
  with pytest.raises(ValueError, match=r"mean: expected shape \(30\), got \(29,\)"):
    init_from_pca(params, "shape_decoder", np.zeros(29), np.zeros((5, 30)))
  with pytest.raises(ValueError, match=r"component: expected one of"):
    init_from_pca(params, "mapping", np.zeros(6), np.zeros((5, 6)))


def test_alexnet_image_autoencoder_targets_the_resized_image():
  """The 2D autoencoder of a 227x227 AlexNet encoder reconstructs a 32x32 version of it."""
  from inverse3d.mapping.stages import stage_error_fn
  config = default_config("points", shape_shape=(10, 3), image_shape=(227, 227, 3),
                          image_encoder="alexnet").model
  config.image_encoder.channels, config.image_encoder.fc = (4, 6, 8, 6, 5), (7, 6)
  config.image_decoder.hidden = (8,)
  model = build_model(config)
  params = numpy_params(lambda key: init_params(model, key))
  images = np.full((2, 227, 227, 3), 0.5, np.float32)  # resizing keeps a constant image
  recon = np.asarray(model.apply({"params": params}, images, method="reconstruct_images"),
                     np.float64)
  assert recon.shape == (2, 32, 32, 3)
  error = stage_error_fn(model, "image_ae")(params, {"images": images})
  np.testing.assert_allclose(float(error), np.mean((recon - 0.5) ** 2), rtol=1e-5)
