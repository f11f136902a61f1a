"""The image model and the losses (inverse3d.gan2shape.photometric) on tiny analytic scenes."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from inverse3d import gan2shape as g2s
from inverse3d.render import FOV_DEG

S = 16


def pyramid(images):
  """A stand-in for the discriminator's features: 2x2 and 4x4 average pools."""
  n, h, w, c = images.shape
  return [images.reshape(n, h // k, k, w // k, k, c).mean((2, 4)) for k in (2, 4)]


def sphere_depth(size=S, radius=0.35, centre=1.3):
  """Depth (1, size, size) of a sphere seen head on, in the camera's range."""
  f = 0.5 * (size - 1) / np.tan(np.deg2rad(FOV_DEG) / 2)
  v, u = np.mgrid[0:size, 0:size]
  x, y = (u - (size - 1) / 2) / f, -(v - (size - 1) / 2) / f
  a, b = x * x + y * y + 1, -2 * centre
  disc = np.maximum(b * b - 4 * a * (centre ** 2 - radius ** 2), 0)
  return ((-b - np.sqrt(disc)) / (2 * a))[None].astype(np.float32)


def test_render_image_of_a_flat_surface():
  depth = jnp.ones((2, S, S))
  albedo = jax.random.uniform(jax.random.key(0), (2, S, S, 3))
  light = jnp.array([[0.3, 0.5, 0.0, 0.0], [0.2, 0.6, 1.0, 0.0]])
  out = g2s.render_image(depth, albedo, jnp.zeros((2, 6)), light)
  shapes = {k: v.shape for k, v in out.items()}
  assert shapes == {"image": (2, S, S, 3), "depth": (2, S, S), "mask": (2, S, S),
                    "canonical_image": (2, S, S, 3), "shading": (2, S, S),
                    "diffuse_shading": (2, S, S), "normals": (2, S, S, 3)}
  np.testing.assert_allclose(out["normals"][..., 2], 1.0, atol=1e-6)
  np.testing.assert_allclose(out["diffuse_shading"][0], 1.0, atol=1e-6)
  np.testing.assert_allclose(out["diffuse_shading"][1], 1 / np.sqrt(2), atol=1e-6)
  np.testing.assert_allclose(out["shading"][0], 0.8, atol=1e-6)
  np.testing.assert_allclose(out["shading"][1], 0.2 + 0.6 / np.sqrt(2), atol=1e-6)
  np.testing.assert_allclose(out["canonical_image"], albedo * out["shading"][..., None],
                             atol=1e-6)
  # The identity view: the image is the canonical one, everything covered.
  np.testing.assert_allclose(out["image"], out["canonical_image"], atol=1e-4)
  np.testing.assert_array_equal(out["mask"], 1.0)
  np.testing.assert_allclose(out["depth"], 1.0, atol=1e-5)


def test_render_image_turns_the_surface():
  depth = jnp.asarray(sphere_depth())
  albedo = jnp.full((1, S, S, 3), 0.5)
  view = jnp.array([[0.0, np.deg2rad(30.0), 0.0, 0.0, 0.0, 0.0]])
  out = g2s.render_image(depth, albedo, view, jnp.array([[0.5, 0.5, 0.0, 0.0]]))
  assert 0.0 < float(out["mask"].mean()) < 1.0  # the turned sphere uncovers the background
  assert float(jnp.abs(out["depth"] - depth).max()) > 1e-2
  assert float(out["image"].min()) >= 0.0 and float(out["image"].max()) <= 1.0


def test_masked_l1():
  ones, zeros = jnp.ones((2, 4, 4, 3)), jnp.zeros((2, 4, 4, 3))
  mask = jnp.zeros((2, 4, 4)).at[0, :2].set(1.0)
  assert float(g2s.masked_l1(ones, zeros, mask)) == pytest.approx(1.0)
  half = ones.at[1].set(0.5)
  assert float(g2s.masked_l1(half, zeros, jnp.ones((2, 4, 4)))) == pytest.approx(0.75)
  assert float(g2s.masked_l1(ones, zeros, jnp.zeros((2, 4, 4)))) == 0.0  # no NaN


def test_smoothness_is_second_order():
  v, u = np.mgrid[0:8, 0:8].astype(np.float32)
  assert float(g2s.smoothness(jnp.asarray(3 * u - 2 * v + 1)[None])) == pytest.approx(0.0)
  assert float(g2s.smoothness(jnp.asarray(u ** 2)[None])) == pytest.approx(2.0)
  assert float(g2s.smoothness(jnp.asarray(v ** 2)[None])) == pytest.approx(2.0)
  assert float(g2s.smoothness(jnp.asarray(u * v)[None])) == pytest.approx(2.0)


def test_perceptual_loss():
  a = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3))
  b = jax.random.uniform(jax.random.key(1), (2, 8, 8, 3))
  assert float(g2s.perceptual_loss(pyramid, a, a)) == 0.0
  expected = np.mean([np.mean(np.abs(fa - fb)) for fa, fb in zip(pyramid(a), pyramid(b))])
  assert float(g2s.perceptual_loss(pyramid, a, b)) == pytest.approx(expected, rel=1e-6)
  mask = jnp.zeros((2, 8, 8))
  assert float(g2s.perceptual_loss(pyramid, a, b, mask)) == 0.0
  grad = jax.grad(lambda t: g2s.perceptual_loss(pyramid, a, t))(b)
  assert float(jnp.abs(grad).max()) == 0.0  # the targets are constants
  with pytest.raises(ValueError, match="features: expected"):
    g2s.perceptual_loss(lambda x: [], a, b)


def test_the_reconstruction_loss_decreases():
  # Fit raw depth and albedo maps directly to an image rendered from a sphere in a turned
  # view: the loss and each of its image terms fall under Adam.
  target_depth = jnp.asarray(sphere_depth())
  pattern = jnp.asarray(np.random.default_rng(0).uniform(0.2, 0.9, (1, S, S, 3)), jnp.float32)
  view = jnp.array([[0.05, 0.15, 0.0, 0.01, 0.0, 0.0]])
  light = jnp.array([[0.4, 0.6, 0.4, 0.3]])
  target = g2s.render_image(target_depth, pattern, view, light)["image"]

  def loss_fn(p):
    depth = g2s.depth_output(p["depth"])
    rendered = g2s.render_image(depth, g2s.albedo_output(p["albedo"]), view, light)
    return g2s.reconstruction_loss(rendered, target, depth, pyramid)

  params = {"depth": jnp.zeros((1, S, S, 1)), "albedo": jnp.zeros((1, S, S, 3))}
  opt = optax.adam(0.05)

  @jax.jit
  def step(params, state):
    (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, state = opt.update(grads, state)
    return optax.apply_updates(params, updates), state, loss, parts

  state = opt.init(params)
  history = []
  for _ in range(40):
    params, state, loss, parts = step(params, state)
    history.append((float(loss), float(parts["l1"]), float(parts["perceptual"])))
  first, last = history[0], history[-1]
  assert all(np.isfinite(history).ravel())
  assert last[0] < 0.4 * first[0] and last[1] < 0.4 * first[1] and last[2] < 0.4 * first[2]
