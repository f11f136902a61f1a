"""The conv encoders and decoders compute the same function by impl "native" (lax convolutions)
and "batch_last" (matrix products): one param tree, the same outputs and gradients; "auto"
picks batch_last on CPU only; configs pass impl through and a checkpoint ignores it."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.mapping import build_model, default_config, init_params
from inverse3d.models.conv import ConvDecoder, ConvEncoder, resolve_conv_impl
from inverse3d.train.checkpoint import config_fingerprint

COMPONENTS = {
    "encoder_2d": (ConvEncoder(6, spatial_dims=2, channels=(5, 4)), (3, 9, 10, 2)),
    "encoder_3d": (ConvEncoder(6, spatial_dims=3, channels=(5, 4)), (3, 7, 8, 9)),
    "decoder_2d": (ConvDecoder((7, 6), out_channels=3, channels=(5, 4),
                               out_activation="sigmoid"), (3, 7)),
    "decoder_3d": (ConvDecoder((9, 10, 7), channels=(5, 4)), (3, 7)),
}


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_native_and_batch_last_take_the_same_params_and_agree(name):
  module, shape = COMPONENTS[name]
  native, batch_last = module.clone(impl="native"), module.clone(impl="batch_last")
  x = jax.random.normal(jax.random.key(1), shape)
  # One param tree (names, shapes; test_batch_last_conv.py checks each layer's initial values
  # against flax's), here filled with random values: flax's init takes seconds to compile.
  tree = jax.eval_shape(native.init, jax.random.key(0), x)
  assert tree == jax.eval_shape(batch_last.init, jax.random.key(0), x)
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda a: jnp.asarray(0.3 * rng.standard_normal(a.shape), a.dtype), tree)

  @functools.partial(jax.jit, static_argnums=0)
  def outputs_and_grads(m, p, v):
    loss = lambda p, v: jnp.sum(jnp.sin(3 * m.apply(p, v)))
    return m.apply(p, v), jax.grad(loss, argnums=(0, 1))(p, v)

  (out_n, grads_n), (out_b, grads_b) = [outputs_and_grads(m, params, x)
                                        for m in (native, batch_last)]
  np.testing.assert_allclose(out_n, out_b, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), grads_n,
               grads_b)


def test_auto_is_batch_last_on_cpu_only():
  assert resolve_conv_impl("auto", backend="cpu") == "batch_last"
  assert resolve_conv_impl("auto", backend="gpu") == "native"
  assert resolve_conv_impl("auto", backend="tpu") == "native"
  assert resolve_conv_impl("native", backend="cpu") == "native"
  assert resolve_conv_impl("batch_last", backend="gpu") == "batch_last"
  assert resolve_conv_impl() == ("batch_last" if jax.default_backend() == "cpu" else "native")


def test_unknown_impl_is_named():
  message = r"impl: expected one of \['auto', 'native', 'batch_last'\], got 'cudnn'"
  with pytest.raises(ValueError, match=message):
    resolve_conv_impl("cudnn")
  with pytest.raises(ValueError, match=message):
    ConvEncoder(4, impl="cudnn").init(jax.random.key(0), jnp.ones((1, 4, 4, 1)))


def objects_conv_model():
  return default_config("voxels", shape_shape=(30, 30, 30), image_encoder="conv",
                        mapping="conv", shape_decoder="conv")


def test_config_forces_impl_of_conv_encoders_and_decoders():
  config = objects_conv_model()
  assert config.model.shape_decoder.impl == "auto" and "impl" not in config.model.mapping
  config.model.shape_decoder.impl = "native"
  model = build_model(config.model)
  assert model.shape_decoder.impl == "native" and model.image_encoder.impl == "auto"
  config.model.image_encoder.impl = "fft"
  with pytest.raises(ValueError, match=r"config.model.image_encoder.impl: expected one of"):
    build_model(config.model)
  config.model.image_encoder.impl = "auto"
  config.model.mapping.impl = "native"  # the conv mapping is flax's nn.Conv on every backend
  with pytest.raises(ValueError, match=r"config.model.mapping: .*got unknown \['impl'\]"):
    build_model(config.model)


def test_impl_leaves_the_param_tree_and_the_checkpoint_fingerprint_alone():
  config = objects_conv_model()
  auto = jax.eval_shape(lambda: init_params(build_model(config.model), jax.random.key(0)))
  before = config_fingerprint(config)
  for slot in ("image_encoder", "image_decoder", "shape_encoder", "shape_decoder"):
    config.model[slot].impl = "native"
  native = jax.eval_shape(lambda: init_params(build_model(config.model), jax.random.key(0)))
  assert jax.tree.map(lambda a: a.shape, auto) == jax.tree.map(lambda a: a.shape, native)
  assert config_fingerprint(config) == before
  del config.model.shape_decoder["impl"]  # as in checkpoints written before the field
  assert config_fingerprint(config) == before
