"""How good is a face generator, measured with what the project can build offline.

No Inception network can be downloaded here, so the features come from a network the project
trains on its own labeled renders: :class:`FactorRegressor` predicts each face image's pose and
light (yaw, pitch, roll in degrees; ambient, diffuse, light dx, dy) from the image alone.

- Frechet distance (:func:`frechet_distance`) between the regressor's penultimate features of
  generated and of real test images: the FID recipe with this network in place of Inception, so
  its values are comparable only with each other (same regressor, same sample count), never with
  published FIDs. The same distance between two disjoint real sets is the floor that finite
  samples leave.
- Coverage (:func:`coverage`): the 5th-95th percentile range of each predicted factor over
  generated images, as a fraction of the same range over real images (the regressor's own
  errors apply to both): does the generator's manifold hold the views and lights GAN2Shape needs?
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg

from inverse3d.checks import check_positive_int, check_shape
from inverse3d.gan.layers import ConvLayer, EqualLinear, ResBlock
from inverse3d.train import DataParallel, create_state, make_train_step

FACTORS = ("yaw_deg", "pitch_deg", "roll_deg", "ambient", "diffuse", "light_dx", "light_dy")
INPUT_SIZE = 32
"""The regressor reads images average-pooled to this side (pose and light are coarse)."""


def factor_targets(view, light) -> np.ndarray:
  """Ground truth view (N, 6) radians and light (N, 4) -> (N, 7) in FACTORS order and units."""
  view, light = np.asarray(view, np.float64), np.asarray(light, np.float64)
  return np.concatenate([np.rad2deg(view[:, [1, 0, 2]]), light], 1).astype(np.float32)


class FactorRegressor(nn.Module):
  """Images (B, R, R, 3) uint8 -> (features (B, width), factors (B, 7), standardised).

  Average-pooled to INPUT_SIZE, a from-RGB convolution and residual blocks down to 4 x 4, then
  a dense layer: its output is the feature vector; a linear head predicts the factors.
  """
  widths: tuple = (32, 64, 96)
  width: int = 128

  @nn.compact
  def __call__(self, images):
    x = images.astype(jnp.float32) / 127.5 - 1.0
    factor = x.shape[1] // INPUT_SIZE
    if factor > 1:
      x = x.reshape(x.shape[0], INPUT_SIZE, factor, INPUT_SIZE, factor, 3).mean((2, 4))
    x = ConvLayer(self.widths[0] // 2, 1, name="from_rgb")(x)
    for i, w in enumerate(self.widths):
      x = ResBlock(w, name=f"block_{i}")(x)
    features = EqualLinear(self.width, activation=True, name="features")(
        x.reshape(x.shape[0], -1))
    return features, EqualLinear(len(FACTORS), name="head")(features)


def train_factor_regressor(images, targets, *, steps: int, batch_size: int = 64, key,
                           lr: float = 2e-3) -> dict:
  """Fits :class:`FactorRegressor` to ``targets`` (N, 7) of uint8 ``images`` (N, R, R, 3).

  Returns {"params", "mean", "scale"}: targets are standardised by mean and scale (N,) for the
  squared-error loss; :func:`predict` undoes it.
  """
  bind = check_shape("images", images, ("N", None, None, 3))
  check_shape("targets", targets, (bind["N"], len(FACTORS)))
  steps = check_positive_int("steps", steps)
  batch_size = check_positive_int("batch_size", batch_size, maximum=bind["N"])
  targets = np.asarray(targets, np.float64)
  mean, scale = targets.mean(0), np.maximum(targets.std(0), 1e-6)
  standard = ((targets - mean) / scale).astype(np.float32)
  model = FactorRegressor()
  k_init, k_order = jax.random.split(key)
  params = model.init(k_init, jnp.asarray(images[:1]))["params"]
  optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps))

  def loss_fn(p, batch):
    _, pred = model.apply({"params": p["regressor"]}, batch["images"])
    return jnp.mean(jnp.square(pred - batch["targets"]))

  dp = DataParallel(jax.local_devices()[:1])
  run = dp.compile(make_train_step(loss_fn, optimizer, grad_norm=False))
  state = dp.replicate(create_state({"regressor": params}, optimizer, ("regressor",)))
  order = np.random.default_rng(int(jax.random.randint(k_order, (), 0, 2 ** 31 - 1)))
  for _ in range(steps):
    rows = order.choice(bind["N"], batch_size, replace=False)
    state, _ = run(state, {"images": images[rows], "targets": standard[rows]})
  return {"params": dp.to_host(state.params["regressor"]), "mean": mean, "scale": scale}


@jax.jit
def _apply(params, images):
  return FactorRegressor().apply({"params": params}, images)


def predict(regressor: dict, images, batch_size: int = 250) -> tuple[np.ndarray, np.ndarray]:
  """(features (N, width) float64, factors (N, 7) in FACTORS units) of uint8 images."""
  check_shape("images", images, ("N", None, None, 3))
  feats, factors = [], []
  for start in range(0, len(images), batch_size):
    f, p = _apply(regressor["params"], jnp.asarray(images[start:start + batch_size]))
    feats.append(np.asarray(f, np.float64))
    factors.append(np.asarray(p, np.float64) * regressor["scale"] + regressor["mean"])
  return np.concatenate(feats), np.concatenate(factors)


def frechet_distance(a, b) -> float:
  """Frechet distance between Gaussians fitted to feature sets a (N, F) and b (M, F), float64:
  |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
    raise ValueError(f"a, b: expected (N, F) and (M, F) features with N, M >= 2, got {a.shape} "
                     f"and {b.shape}")
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  root = scipy.linalg.sqrtm(cov_a @ cov_b)
  root = np.real(root)  # rounding leaves a tiny imaginary part
  return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def coverage(generated, real, low: float = 5.0, high: float = 95.0) -> dict:
  """Per factor: the [low, high] percentile range of ``generated`` (N, 7) and of ``real``
  (M, 7), and ``span``: the generated range's width over the real one's."""
  out = {}
  for i, name in enumerate(FACTORS):
    g = np.percentile(generated[:, i], [low, high])
    r = np.percentile(real[:, i], [low, high])
    out[name] = {"generated": [float(v) for v in g], "real": [float(v) for v in r],
                 "span": float((g[1] - g[0]) / max(r[1] - r[0], 1e-12))}
  return out
