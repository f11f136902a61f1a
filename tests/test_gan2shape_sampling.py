"""Pseudo-sample views and lights (inverse3d.gan2shape.sampling): ranges, statistics, keys."""
import functools

import jax
import numpy as np
import pytest

from inverse3d import gan2shape as g2s

N = 20000
BASE = np.array([0.4, 0.5, 0.1, 0.2], np.float32)


def test_lights_lie_in_the_configured_ranges():
  lights = np.asarray(g2s.sample_lights(jax.random.key(0), N, BASE))
  assert lights.shape == (N, 4) and lights.dtype == np.float32
  r = lights[:, 1] - BASE[1]
  for values, (low, high) in ((lights[:, 2], (-1.0, 1.0)), (lights[:, 3], (-0.2, 0.8)),
                              (r, (-0.1, 0.6))):
    assert low - 1e-6 <= values.min() and values.max() <= high + 1e-6
    assert values.min() < low + 0.01 and values.max() > high - 0.01  # the whole range is used
    assert values.mean() == pytest.approx((low + high) / 2, abs=0.01)
  np.testing.assert_allclose(lights[:, 0], BASE[0] - 0.6 * r, atol=1e-6)


def test_custom_light_ranges():
  lights = np.asarray(g2s.sample_lights(jax.random.key(1), N, BASE, dx=(-0.9, 0.9),
                                        dy=(-0.3, 0.8), strength=(-0.1, 0.7),
                                        ambient_scale=0.5))
  r = lights[:, 1] - BASE[1]
  assert -0.9 <= lights[:, 2].min() and lights[:, 2].max() <= 0.9
  assert -0.3 <= lights[:, 3].min() and lights[:, 3].max() <= 0.8
  assert -0.1 - 1e-6 <= r.min() and r.max() <= 0.7 + 1e-6 and r.max() > 0.69
  np.testing.assert_allclose(lights[:, 0], BASE[0] + 0.5 * r, atol=1e-6)


def test_views_follow_the_normal_with_the_yaw_scaled():
  mean = np.array([0.05, 0.1, 0.0, 0.01, -0.02, 0.0])
  std = np.array([0.1, 0.3, 0.05, 0.02, 0.02, 0.0])
  views = np.asarray(g2s.sample_views(jax.random.key(2), N, mean, std))
  assert views.shape == (N, 6) and views.dtype == np.float32
  scale = np.array([1, 1.2, 1, 1, 1, 1])
  np.testing.assert_allclose(views.mean(0), mean * scale, atol=0.01)
  np.testing.assert_allclose(views.std(0), std * scale, rtol=0.03, atol=1e-7)
  np.testing.assert_array_equal(views[:, 5], 0.0)  # std 0 fixes a component
  unscaled = np.asarray(g2s.sample_views(jax.random.key(2), N, mean, std, yaw_scale=1.0))
  np.testing.assert_allclose(views[:, 1], 1.2 * unscaled[:, 1], rtol=1e-6)
  np.testing.assert_array_equal(views[:, [0, 2, 3, 4]], unscaled[:, [0, 2, 3, 4]])


def test_samples_are_pure_functions_of_the_key():
  a = g2s.sample_lights(jax.random.key(3), 8, BASE)
  np.testing.assert_array_equal(a, g2s.sample_lights(jax.random.key(3), 8, BASE))
  assert not np.allclose(a, g2s.sample_lights(jax.random.key(4), 8, BASE))
  jitted = jax.jit(functools.partial(g2s.sample_views, n=8, yaw_scale=1.2))
  np.testing.assert_allclose(jitted(jax.random.key(5), mean=np.zeros(6), std=np.ones(6)),
                             g2s.sample_views(jax.random.key(5), 8, np.zeros(6), np.ones(6)),
                             rtol=1e-6)


def test_bad_input_errors():
  key = jax.random.key(0)
  with pytest.raises(ValueError, match=r"light: expected shape \(4\)"):
    g2s.sample_lights(key, 4, BASE[:3])
  with pytest.raises(ValueError, match="dy: expected finite .* low < high"):
    g2s.sample_lights(key, 4, BASE, dy=(0.8, -0.2))
  with pytest.raises(ValueError, match="n: expected an integer >= 1"):
    g2s.sample_lights(key, 0, BASE)
  with pytest.raises(ValueError, match="light: expected finite"):
    g2s.sample_lights(key, 4, np.array([np.nan, 0, 0, 0]))
  with pytest.raises(ValueError, match=r"std: expected values in \[0.0, inf\]"):
    g2s.sample_views(key, 4, np.zeros(6), -np.ones(6))
  with pytest.raises(ValueError, match=r"mean: expected shape \(6\)"):
    g2s.sample_views(key, 4, np.zeros(3), np.ones(6))
  with pytest.raises(ValueError, match="yaw_scale"):
    g2s.sample_views(key, 4, np.zeros(6), np.ones(6), yaw_scale=float("nan"))
