"""The photo-geometric nets and their output maps (inverse3d.gan2shape.networks).

Tiny widths; keys use the rbg generator (flax's init compiles several times faster with it
than with threefry on CPU).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d import gan2shape as g2s
from inverse3d.render import DEPTH_RANGE

NETS = g2s.photo_geometric_nets(nf=4, zdim=8, encoder_nf=4)


def key(seed):
  return jax.random.key(seed, impl="rbg")


@pytest.mark.parametrize("size", [16, 32])
def test_shapes_and_ranges_of_the_factors(size):
  params = g2s.init_nets(NETS, key(0), size)
  images = jax.random.uniform(jax.random.key(1), (2, size, size, 3))
  factors = jax.jit(lambda p, x: g2s.predict_factors(NETS, p, x))(params, images)
  assert factors["depth"].shape == (2, size, size)
  assert factors["albedo"].shape == (2, size, size, 3)
  assert factors["view"].shape == (2, 6) and factors["light"].shape == (2, 4)
  depth = np.asarray(factors["depth"])
  assert DEPTH_RANGE[0] <= depth.min() and depth.max() <= DEPTH_RANGE[1]
  assert depth.std() > 0  # a fresh net's depth is not flat
  assert 0 <= float(factors["albedo"].min()) and float(factors["albedo"].max()) <= 1
  assert all(np.isfinite(np.asarray(v)).all() for v in factors.values())


def test_more_resolution_adds_halvings():
  count = lambda p: sum(x.size for x in jax.tree.leaves(p))
  small = jax.eval_shape(lambda: g2s.init_nets(NETS, key(0), 16))
  large = jax.eval_shape(lambda: g2s.init_nets(NETS, key(0), 64))
  for name in NETS:
    assert count(large[name]) > count(small[name]), name


def test_output_maps_reach_their_ranges():
  big = jnp.array([[-50.0] * 6, [50.0] * 6, [0.0] * 6])
  view = np.asarray(g2s.view_output(big))
  np.testing.assert_allclose(np.abs(view[:2, :3]), math.radians(60), rtol=1e-6)
  np.testing.assert_allclose(np.abs(view[:2, 3:5]), 0.1, rtol=1e-6)
  np.testing.assert_array_equal(view[:, 5], 0.0)  # no z translation for faces
  np.testing.assert_array_equal(view[2], 0.0)
  wide = np.asarray(g2s.view_output(big, rotation_deg=30.0, z_translation=0.2))
  np.testing.assert_allclose(wide[1], [math.radians(30)] * 3 + [0.1, 0.1, 0.2], rtol=1e-6)
  light = np.asarray(g2s.light_output(big[:, :4]))
  np.testing.assert_allclose(light[0], [0, 0, -1, -1], atol=1e-6)
  np.testing.assert_allclose(light[1], [1, 1, 1, 1], atol=1e-6)
  np.testing.assert_allclose(light[2], [0.5, 0.5, 0, 0], atol=1e-6)
  albedo = np.asarray(g2s.albedo_output(jnp.array([-50.0, 0.0, 50.0])))
  np.testing.assert_allclose(albedo, [0, 0.5, 1], atol=1e-6)


def test_depth_output_is_mean_centred_tanh_in_the_depth_range():
  raw = jnp.full((1, 4, 4, 1), 7.0)  # a constant raw map is flat at the range's middle
  np.testing.assert_allclose(g2s.depth_output(raw), 1.0, atol=1e-6)
  ramp = jnp.arange(16.0).reshape(1, 4, 4, 1) - 3.0
  expected = 1.0 + 0.1 * np.tanh(np.arange(16.0) - 7.5).reshape(1, 4, 4)
  np.testing.assert_allclose(g2s.depth_output(ramp), expected, rtol=1e-6)
  np.testing.assert_allclose(g2s.depth_output(ramp, (0.5, 1.5)), 1.0 + (expected - 1.0) * 5,
                             rtol=1e-6)


def test_bad_input_errors():
  with pytest.raises(ValueError, match=r"images: expected \(B, R, R, C\)"):
    g2s.EDDeconv(1, 4, 8).init(key(0), jnp.zeros((1, 24, 24, 3)))
  with pytest.raises(ValueError, match=r"images: expected \(B, R, R, C\)"):
    g2s.Encoder(6, 4).init(key(0), jnp.zeros((1, 16, 32, 3)))
  with pytest.raises(ValueError, match="nf: expected a positive multiple of group_size 4"):
    g2s.EDDeconv(1, 6, 8).init(key(0), jnp.zeros((1, 16, 16, 3)))
