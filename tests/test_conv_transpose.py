"""The sub-pixel transposed convolution of the conv decoders equals flax's nn.ConvTranspose
(SAME padding): same params, same initial values, same outputs and gradients."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.models.conv import SubpixelConvTranspose


@pytest.mark.parametrize("dims,kernel,stride,size", [(3, 3, 2, 3), (2, 4, 2, 3), (1, 5, 3, 4)])
def test_matches_flax_conv_transpose(dims, kernel, stride, size):
  x = jax.random.normal(jax.random.key(1), (2,) + (size,) * dims + (3,))
  reference = nn.ConvTranspose(4, (kernel,) * dims, strides=(stride,) * dims, padding="SAME")
  ours = SubpixelConvTranspose(4, kernel, stride)
  init = ours.init(jax.random.key(0), x)
  jax.tree.map(np.testing.assert_array_equal, init, reference.init(jax.random.key(0), x))
  params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(3), a.shape), init)
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)

  def grads(module):
    return jax.grad(lambda p, v: jnp.sum(jnp.sin(module.apply(p, v))), argnums=(0, 1))(params, x)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), grads(ours),
               grads(reference))
