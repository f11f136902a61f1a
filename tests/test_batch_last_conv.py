"""The conv layers of the conv encoders and decoders equal flax's nn.Conv and nn.ConvTranspose
(SAME padding): same params, same initial values, same outputs and gradients, by both impls,
every batch-last method and in both layouts; the batch-last conv encoder and decoder equal the
same layers built from flax's (tests/test_conv_impl.py: and so do the native ones)."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.models.batch_last import conv_transpose_phases, interleave_phases
from inverse3d.models.conv import Conv, ConvDecoder, ConvEncoder


def perturbed(params):
  return jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(3), a.shape), params)


def assert_same_as_flax(ours, reference, x):
  """Same initial params, and with perturbed params the same outputs and gradients."""
  init = ours.init(jax.random.key(0), x)
  jax.tree.map(np.testing.assert_array_equal, init, reference.init(jax.random.key(0), x))
  params = perturbed(init)
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)

  def grads(module):
    return jax.grad(lambda p, v: jnp.sum(jnp.sin(module.apply(p, v))), argnums=(0, 1))(params, x)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), grads(ours),
               grads(reference))


# (impl, batch-last method): the native convolution, and the batch-last one by each method.
IMPLS = [("native", "auto"), ("batch_last", "gather"), ("batch_last", "scatter")]


def cases(shapes, impls):
  """Every (shape, impl) pair but native 3D ones: XLA:CPU's native 3D convolutions take seconds
  here, and tests/test_conv_impl.py checks them against batch-last on whole 3D components."""
  return [(*shape, *impl) for shape in shapes for impl in impls
          if not (impl[0] == "native" and shape[0] == 3)]


@pytest.mark.parametrize("dims,kernel,stride,size,impl,method", cases(
    [(3, 3, 2, 3), (2, 4, 2, 3), (1, 5, 3, 4), (2, 2, 3, 3)], IMPLS))
def test_matches_flax_conv_transpose(dims, kernel, stride, size, impl, method):
  x = jax.random.normal(jax.random.key(1), (2,) + (size,) * dims + (3,))
  reference = nn.ConvTranspose(4, (kernel,) * dims, strides=(stride,) * dims, padding="SAME")
  assert_same_as_flax(Conv(4, kernel, stride, transpose=True, impl=impl, method=method),
                      reference, x)


@pytest.mark.parametrize("dims,kernel,stride,size,impl", cases(
    [(3, 3, 2, 5), (3, 3, 2, 6), (2, 4, 2, 7), (1, 5, 3, 8), (2, 2, 3, 4)],
    [("native",), ("batch_last",)]))
def test_matches_flax_conv(dims, kernel, stride, size, impl):
  x = jax.random.normal(jax.random.key(1), (2,) + (size,) * dims + (3,))
  reference = nn.Conv(4, (kernel,) * dims, strides=(stride,) * dims, padding="SAME")
  assert_same_as_flax(Conv(4, kernel, stride, impl=impl), reference, x)


@pytest.mark.parametrize("spatial_dims,shape", [(3, (3, 9, 8, 7)), (2, (3, 10, 9, 2))])
def test_conv_encoder_equals_flax_layers(spatial_dims, shape):
  encoder = ConvEncoder(6, spatial_dims=spatial_dims, channels=(5, 4), impl="batch_last")
  x = jax.random.normal(jax.random.key(1), shape)
  params = perturbed(encoder.init(jax.random.key(0), x))["params"]
  h = x[..., None] if x.ndim == spatial_dims + 1 else x
  for i, c in enumerate((5, 4)):
    layer = nn.Conv(c, (3,) * spatial_dims, strides=(2,) * spatial_dims, padding="SAME")
    h = jax.nn.relu(layer.apply({"params": params[f"conv_{i}"]}, h))
  expected = nn.Dense(6).apply({"params": params["out"]}, jnp.reshape(h, (shape[0], -1)))
  np.testing.assert_allclose(encoder.apply({"params": params}, x), expected, atol=1e-5)


@pytest.mark.parametrize("impl", ["native", "batch_last"])
def test_batch_last_layout_is_the_transposed_channels_last(impl):
  x = jax.random.normal(jax.random.key(1), (5, 4, 3, 4, 6))  # (N, D, H, W, C)
  channels_last = Conv(2, transpose=True, impl=impl)
  params = perturbed(channels_last.init(jax.random.key(0), x))
  order = (4, 1, 2, 3, 0)
  batch_last = Conv(2, transpose=True, batch_last=True, impl=impl).apply(
      params, jnp.transpose(x, order))
  np.testing.assert_allclose(jnp.transpose(batch_last, order), channels_last.apply(params, x),
                             atol=1e-5)


@pytest.mark.parametrize("dims,kernel,strides,size", [(3, 3, (2, 2), 3), (2, 4, (2, 3), 3),
                                                      (1, 5, (3, 2), 4)])
def test_chained_phase_layers_equal_separate_transposed_convs(dims, kernel, strides, size):
  """Two transposed convolutions chained on phase-decomposed grids, interleaved once, give
  lax.conv_transpose twice (channels-last, SAME): values and gradients."""
  keys = jax.random.split(jax.random.key(2), 3)
  x = jax.random.normal(keys[0], (2,) + (size,) * dims + (3,))
  w1 = jax.random.normal(keys[1], (kernel,) * dims + (3, 4))
  w2 = jax.random.normal(keys[2], (kernel,) * dims + (4, 2))
  spec = ("NWC", "NHWC", "NDHWC")[dims - 1]
  numbers = (spec, spec[1:-1] + "IO", spec)

  def reference(x, w1, w2):
    h = jax.lax.conv_transpose(x, w1, strides[:1] * dims, "SAME", dimension_numbers=numbers)
    return jax.lax.conv_transpose(jnp.tanh(h), w2, strides[1:] * dims, "SAME",
                                  dimension_numbers=numbers)

  def chained(x, w1, w2):
    h = jnp.moveaxis(x, (0, -1), (-1, 0))[:, None]  # (C, 1 phase, *S, N)
    h = jnp.tanh(conv_transpose_phases(h, w1, strides[0]))
    h = conv_transpose_phases(h, w2, strides[1], factor=strides[0])
    return jnp.moveaxis(interleave_phases(h, strides[0] * strides[1]), (0, -1), (-1, 0))

  np.testing.assert_allclose(chained(x, w1, w2), reference(x, w1, w2), atol=1e-4)
  loss = lambda f: jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))), argnums=(0, 1, 2))(x, w1, w2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-3), loss(chained),
               loss(reference))


def test_phase_factor_is_for_transposed_batch_last_layers():
  x = jnp.ones((1, 4, 2, 2, 1))
  with pytest.raises(ValueError, match="phase_factor"):
    Conv(2, phase_factor=2, impl="batch_last").init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="phase_factor.*impl='native'"):
    Conv(2, transpose=True, batch_last=True, phase_factor=2, impl="native").init(
        jax.random.key(0), x)


def test_unknown_method_is_named():
  with pytest.raises(ValueError, match="method"):
    Conv(2, transpose=True, impl="batch_last", method="winograd").init(jax.random.key(0),
                                                                       jnp.ones((1, 2, 2, 1)))
  with pytest.raises(ValueError, match="method"):
    Conv(2, impl="batch_last", method="scatter").init(jax.random.key(0), jnp.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("spatial,out_channels", [((10, 9, 12), None), ((7, 6), 3)])
def test_conv_decoder_equals_flax_layers(spatial, out_channels):
  """Dense -> reshape (N, *coarse, C) -> ConvTranspose ... -> central crop, written with flax
  layers in the channels-last layout, with the decoder's own params."""
  channels = (5, 4)
  decoder = ConvDecoder(spatial, out_channels=out_channels, channels=channels,
                        out_activation="sigmoid", impl="batch_last")
  codes = jax.random.normal(jax.random.key(1), (3, 7))
  params = perturbed(decoder.init(jax.random.key(0), codes))["params"]
  coarse = tuple(math.ceil(s / 4) for s in spatial)
  h = nn.Dense(math.prod(coarse) * channels[0]).apply({"params": params["dense"]}, codes)
  h = jax.nn.relu(jnp.reshape(h, (3, *coarse, channels[0])))
  for i, c in enumerate((*channels[1:], out_channels or 1)):
    layer = nn.ConvTranspose(c, (3,) * len(spatial), strides=(2,) * len(spatial), padding="SAME")
    h = layer.apply({"params": params[f"deconv_{i}"]}, h)
    h = jax.nn.relu(h) if i == 0 else h
  starts = [(have - want) // 2 for have, want in zip(h.shape[1:-1], spatial)]
  h = jax.nn.sigmoid(h[(slice(None), *(slice(a, a + s) for a, s in zip(starts, spatial)))])
  expected = h[..., 0] if out_channels is None else h
  np.testing.assert_allclose(decoder.apply({"params": params}, codes), expected, atol=1e-5)
