"""StyleGAN2 training: generator API, losses, R1, EMA, one iteration, resume, bad input.

The stop on a non-finite loss is TrainLoop's (tests/test_train_loop.py); the GAN's loss line
is d_loss + g_loss, checked in the one-iteration test.
"""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from inverse3d.gan import training
from inverse3d.gan.export import load_generator, save_generator
from inverse3d.gan.generator import generate, init_generator, mean_w, spec_of
from inverse3d.gan.losses import discriminator_loss, generator_loss, r1_penalty
from inverse3d.gan.networks import generator_spec
from inverse3d.train import DataParallel

RES = 8


def tiny_config(steps=4, **train):
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = dict(resolution=RES, channel_base=64, channel_max=8, style_dim=8,
                      mapping_layers=2, lr_mul=0.01)
  config.train = dict(batch_size=4, steps=steps, g_lr=0.002, d_lr=0.002, betas=(0.0, 0.99),
                      r1_gamma=0.1, r1_every=2, ema_kimg=0.01, ema_rampup=0.05,
                      style_mixing=0.9, mirror=True, log_every=1, checkpoint_every=2,
                      keep_checkpoints=3, eval_every=0)
  config.train.update(train)
  return ml_collections.ConfigDict(config)


@pytest.fixture(scope="module")
def spec():
  return training.spec_from_config(tiny_config().model)


@pytest.fixture(scope="module")
def images():
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, (16, RES, RES, 3), dtype=np.uint8)


def test_generator_shapes_truncation_and_spec(spec):
  generator = init_generator(spec, jax.random.key(0))
  generator["w_avg"] = mean_w(generator, jax.random.key(1), 64)
  assert spec_of(generator) == spec
  z = jax.random.normal(jax.random.key(2), (3, spec.style_dim))
  images = generate(generator, z)
  assert images.shape == (3, RES, RES, 3) and np.all(np.isfinite(images))
  # Truncation 0 maps every latent to w_avg: one image.
  flat = np.asarray(generate(generator, z, truncation=0.0))
  np.testing.assert_allclose(flat, np.broadcast_to(flat[:1], flat.shape), atol=1e-6)
  w = np.broadcast_to(generator["w_avg"], (3, spec.style_dim))
  np.testing.assert_allclose(generate(generator, w, input_is_w=True), flat, atol=1e-5)
  # w+ with every row the same w is w; const noise is deterministic, random noise is not.
  w_plus = np.broadcast_to(w[:, None], (3, spec.n_latent, spec.style_dim))
  np.testing.assert_allclose(generate(generator, w_plus, input_is_w=True), flat, atol=1e-5)
  np.testing.assert_array_equal(generate(generator, z), images)
  # Noise strengths start at 0: with some strength, random noise changes the image.
  generator["synthesis"] = jax.tree_util.tree_map_with_path(
      lambda path, v: v + 0.5 if "noise_strength" in jax.tree_util.keystr(path) else v,
      generator["synthesis"])
  images = generate(generator, z)
  noisy = generate(generator, z, noise="random", key=jax.random.key(3))
  assert not np.allclose(noisy, images)
  assert generate(generator, z, noise="none").shape == images.shape


@pytest.mark.parametrize("kwargs, message", [
    (dict(w_or_z=np.full((2, 8), np.nan)), "w_or_z: expected finite"),
    (dict(w_or_z=np.zeros((2, 7))), r"w_or_z: expected \(z\) \(B, 8\)"),
    (dict(w_or_z=np.zeros((2, 8)), truncation=1.5), r"truncation: expected values in \[0.0, 1.0\]"),
    (dict(w_or_z=np.zeros((2, 8)), truncation=-0.1), "truncation"),
    (dict(w_or_z=np.zeros((2, 8)), noise="sometimes"), "noise: expected one of"),
])
def test_generate_bad_input(spec, kwargs, message):
  generator = init_generator(spec, jax.random.key(0))
  with pytest.raises(ValueError, match=message):
    generate(generator, **kwargs)


def test_losses_against_formulas():
  real, fake = jnp.array([2.0, -1.0, 0.5]), jnp.array([-3.0, 0.0, 1.0])
  softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
  np.testing.assert_allclose(discriminator_loss(real, fake),
                             softplus(np.asarray(fake)).mean() + softplus(-np.asarray(real)).mean(),
                             rtol=1e-6)
  np.testing.assert_allclose(generator_loss(fake), softplus(-np.asarray(fake)).mean(), rtol=1e-6)
  # R1 of D(x) = sum(a * x^2) / 2 per sample: grad a * x, penalty mean |a x|^2.
  a = jnp.linspace(0.5, 2.0, 4 * 4 * 3).reshape(4, 4, 3)
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 3))
  penalty, logits = r1_penalty(lambda v: jnp.sum(a * v * v, (1, 2, 3)) / 2, x)
  np.testing.assert_allclose(penalty, np.mean(np.sum((a * x) ** 2, (1, 2, 3))), rtol=1e-5)
  assert logits.shape == (2,)


def test_ema_half_life_and_rampup():
  tc = ml_collections.ConfigDict(dict(ema_kimg=1.0, ema_rampup=0.0, batch_size=10))
  beta = float(training.ema_beta(jnp.asarray(1000), tc))
  assert math.isclose(beta ** (1000 / 10), 0.5, rel_tol=1e-5)  # half weight after 1000 images
  tc.ema_rampup = 0.5  # after 20 steps (200 images) the half-life is 100 images
  assert math.isclose(float(training.ema_beta(jnp.asarray(20), tc)) ** 10, 0.5, rel_tol=1e-5)


def test_one_iteration_updates_both_nets_and_the_average(spec, images):
  config = tiny_config()
  state = training.init_state(spec, config.train, jax.random.key(0))
  dp = DataParallel()
  before = jax.device_get(state)
  # The R1 iteration holds the plain one's D and G steps (the plain one alone runs in the
  # resume test below): one compile instead of two.
  for regularize in (True,):
    run = dp.compile(training.make_iteration(spec, config.train, 0, regularize))
    new, metrics = run(dp.replicate(state), dp.shard(images[:4]))
    new, metrics = jax.device_get((new, metrics))
    assert set(metrics) >= {"loss", "d_loss", "g_loss", "real_logit", "fake_logit"}
    assert ("r1" in metrics) == regularize
    assert all(np.isfinite(v) for v in metrics.values())
    np.testing.assert_allclose(metrics["loss"], metrics["d_loss"] + metrics["g_loss"], rtol=1e-6)
    assert new.g.step == 1 and new.d.step == (2 if regularize else 1)
    for part in ("g", "d"):
      moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), getattr(before, part).params,
                           getattr(new, part).params)
      assert max(jax.tree.leaves(moved)) > 0
    # ema = g + beta (ema_before - g): the EMA sits between its old value and the new params.
    beta = float(training.ema_beta(jnp.asarray(1), config.train))
    expected = jax.tree.map(lambda e, g: g + beta * (e - g), before.ema, new.g.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 new.ema, expected)


class Killed(Exception):
  pass


def test_killed_run_resumes_to_the_same_parameters(tmp_path, images):
  config = tiny_config(steps=4, eval_every=1, r1_every=8)  # R1: test_one_iteration
  whole = training.train(config, str(tmp_path / "whole"), images)

  def kill_at_3(step, generator):
    if step == 3:
      raise Killed
    return {}
  with pytest.raises(Killed):
    training.train(config, str(tmp_path / "killed"), images, evaluate=kill_at_3)
  resumed = training.train(config, str(tmp_path / "killed"), images)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               resumed["generator"], whole["generator"])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               resumed["discriminator"], whole["discriminator"])
  # The exported generator round-trips through its file.
  path = save_generator(tmp_path / "g.npz", whole["generator"])
  loaded = load_generator(path)
  jax.tree.map(np.testing.assert_array_equal, loaded, jax.tree.map(np.asarray,
                                                                    whole["generator"]))
  # A checkpoint of another resolution is refused, naming the field.
  other = tiny_config(steps=4)
  other.model.resolution = 16
  with pytest.raises(ValueError, match="model.resolution"):
    training.train(other, str(tmp_path / "whole"),
                   np.zeros((16, 16, 16, 3), np.uint8))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((16, RES, RES, 3), np.float32), "images: expected .*u"),
    (np.zeros((16, 16, 16, 3), np.uint8), r"images: expected shape \(N, 8, 8, 3\)"),
    (np.zeros((16, RES, RES, 1), np.uint8), r"images: expected shape"),
])
def test_train_bad_images(tmp_path, bad, message):
  with pytest.raises(ValueError, match=message):
    training.train(tiny_config(), str(tmp_path), bad)


def test_load_generator_bad_file(tmp_path):
  path = tmp_path / "not_a_generator.npz"
  np.savez(path, weights=np.zeros(3))
  with pytest.raises(ValueError, match="not a generator file"):
    load_generator(path)
  with pytest.raises(FileNotFoundError, match="path: expected an existing file"):
    load_generator(tmp_path / "missing.npz")


def test_spec_bad_resolution():
  with pytest.raises(ValueError, match="resolution: expected a power of two"):
    generator_spec(48, 1024, 64)
