"""Training StyleGAN2 on the core's data-parallel step: ``train(config, workdir, images)``.

One iteration (all in one compiled step, every device on its rows of the global batch):
1. discriminator step on the logistic loss, fakes from fresh z with style mixing;
2. every ``r1_every`` iterations, a discriminator step on the lazy R1 penalty,
   ``gamma / 2 * r1_every * E|grad D(real)|^2`` (StyleGAN2's lazy regularisation; the
   discriminator's learning rate and betas are adjusted by ``r1_every / (r1_every + 1)``);
3. generator step on the non-saturating loss against the updated discriminator;
4. the generator's exponential moving average, half-life ``ema_kimg`` thousand images, ramped
   up over the first images seen (``ema_rampup``).

``config.model``: resolution, channel_base, channel_max, style_dim, mapping_layers, lr_mul
(:func:`inverse3d.gan.networks.generator_spec`). ``config.train``::

    batch_size = 32          # global, a multiple of the devices (and of 4 per device)
    steps = 6000             # iterations
    g_lr = d_lr = 0.0025     # Adam, betas (0, 0.99)
    betas = (0.0, 0.99)
    r1_gamma = 0.05          # R1 weight (gamma)
    r1_every = 16            # lazy R1 interval
    ema_kimg = 10.0          # EMA half-life in thousands of images
    ema_rampup = 0.05        # the half-life is at most this fraction of the images seen
    style_mixing = 0.9       # probability of mixing two latents at a random layer
    mirror = True            # random horizontal flips of the real images
    log_every, checkpoint_every, keep_checkpoints, eval_every

Images are fed as uint8 and mapped to [-1, 1] on the device.
"""
from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from inverse3d.checks import check_dtype, check_positive_int, check_shape
from inverse3d.gan.generator import init_generator, mapping_module, mean_w
from inverse3d.gan.losses import discriminator_loss, generator_loss, r1_penalty
from inverse3d.gan.networks import Discriminator, GeneratorSpec, Synthesis, generator_spec
from inverse3d.train import (AXIS, DataParallel, TrainLoop, TrainState, config_fingerprint,
                             create_state, make_train_step)
from inverse3d.train.input import ArraySource, Batches

G_PARTS = ("mapping", "synthesis")


@flax.struct.dataclass
class GanState:
  """g: the generator's TrainState (params "mapping", "synthesis"). d: the discriminator's
  (params "discriminator"). ema: the moving average of g's params. noise: the constant noise
  inputs the exported generator keeps."""
  g: TrainState
  d: TrainState
  ema: dict
  noise: tuple


def trajectory_fingerprint(config) -> dict:
  """What a resumed run must share with the one that saved: the seed, data, model and train
  fields (not how often it logs or saves, nor the evaluation's settings)."""
  parts = {k: config[k] for k in ("seed", "data", "model", "train") if k in config}
  return config_fingerprint({k: v.to_dict() if hasattr(v, "to_dict") else v
                             for k, v in parts.items()})


def spec_from_config(model_config) -> GeneratorSpec:
  return generator_spec(model_config.resolution, model_config.channel_base,
                        model_config.channel_max, model_config.style_dim,
                        model_config.mapping_layers, model_config.lr_mul)


def optimizers(tc) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """(generator, discriminator) Adam; the discriminator's adjusted for lazy R1."""
  b1, b2 = (float(b) for b in tc.betas)
  c = tc.r1_every / (tc.r1_every + 1.0)
  return (optax.adam(tc.g_lr, b1=b1, b2=b2, eps=1e-8),
          optax.adam(tc.d_lr * c, b1=b1 ** c, b2=b2 ** c, eps=1e-8))


@functools.partial(jax.jit, static_argnums=0)
def init_networks(spec: GeneratorSpec, key) -> tuple[dict, dict]:
  """(generator dict, discriminator params), fresh; jitted (flax's eager init compiles op by op
  on CPU)."""
  k_g, k_d = jax.random.split(key)
  images = jnp.zeros((1, spec.resolution, spec.resolution, 3))
  return init_generator(spec, k_g), Discriminator(spec.channels).init(k_d, images)["params"]


def init_state(spec: GeneratorSpec, tc, key) -> GanState:
  generator, d_params = init_networks(spec, key)
  g_opt, d_opt = optimizers(tc)
  g_params = {k: generator[k] for k in G_PARTS}
  return GanState(g=create_state(g_params, g_opt, G_PARTS),
                  d=create_state({"discriminator": d_params}, d_opt, ("discriminator",)),
                  ema=g_params, noise=generator["noise"])


def mixed_styles(spec: GeneratorSpec, mapping_params, key, n: int, mixing: float):
  """Styles (n, n_latent, D) of fresh z: with probability ``mixing`` the layers from a random
  cutoff on take a second latent's w (style mixing regularisation)."""
  k_z, k_mix, k_cut = jax.random.split(key, 3)
  z = jax.random.normal(k_z, (2 * n, spec.style_dim))
  w = mapping_module(spec).apply({"params": mapping_params}, z).reshape(2, n, spec.style_dim)
  cutoff = jnp.where(jax.random.uniform(k_mix) < mixing,
                     jax.random.randint(k_cut, (), 1, spec.n_latent), spec.n_latent)
  layer = jnp.arange(spec.n_latent)[None, :, None]
  return jnp.where(layer < cutoff, w[0][:, None], w[1][:, None])


def fake_images(spec: GeneratorSpec, g_params, key, n: int, mixing: float):
  """n generated images (n, R, R, 3) from fresh latents and random noise."""
  k_style, k_noise = jax.random.split(key)
  ws = mixed_styles(spec, g_params["mapping"], k_style, n, mixing)
  keys = jax.random.split(k_noise, len(spec.noise_shapes))
  noise = [jax.random.normal(k, (n, h, w, 1)) for k, (h, w) in zip(keys, spec.noise_shapes)]
  return Synthesis(spec).apply({"params": g_params["synthesis"]}, ws, noise)


def real_images(batch, key, mirror: bool):
  """uint8 (n, R, R, 3) -> float32 in [-1, 1], each flipped left-right with probability 1/2
  when ``mirror``."""
  images = batch.astype(jnp.float32) / 127.5 - 1.0
  if mirror:
    flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
    images = jnp.where(flip, images[:, :, ::-1], images)
  return images


def ema_beta(step, tc):
  """Per-step EMA decay after ``step`` iterations: 0.5 ** (batch / half-life in images)."""
  half = tc.ema_kimg * 1000.0
  if tc.ema_rampup:
    half = jnp.minimum(half, step * tc.batch_size * tc.ema_rampup)
  return 0.5 ** (tc.batch_size / jnp.maximum(half, 1e-8))


def make_iteration(spec: GeneratorSpec, tc, seed: int, regularize: bool):
  """The per-device iteration ``(GanState, uint8 images) -> (GanState, metrics)`` (module
  docstring); ``regularize`` adds the lazy R1 step."""
  g_opt, d_opt = optimizers(tc)
  disc = Discriminator(spec.channels)

  def iteration(state: GanState, batch):
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), state.g.step),
                             jax.lax.axis_index(AXIS))
    k_fake_d, k_fake_g, k_flip = jax.random.split(key, 3)
    real = real_images(batch, k_flip, tc.mirror)
    n = real.shape[0]
    fakes_for_d = jax.lax.stop_gradient(
        fake_images(spec, state.g.params, k_fake_d, n, tc.style_mixing))

    def d_loss(params, real):
      real_logits = disc.apply({"params": params["discriminator"]}, real)
      fake_logits = disc.apply({"params": params["discriminator"]}, fakes_for_d)
      return discriminator_loss(real_logits, fake_logits), {
          "real_logit": jnp.mean(real_logits), "fake_logit": jnp.mean(fake_logits)}

    d_state, d_metrics = make_train_step(d_loss, d_opt, has_aux=True, grad_norm=False)(
        state.d, real)
    metrics = {"d_loss": d_metrics.pop("loss"), **d_metrics}
    if regularize:
      def r1_loss(params, real):
        penalty, _ = r1_penalty(lambda x: disc.apply({"params": params["discriminator"]}, x),
                                real)
        return penalty * (tc.r1_gamma / 2 * tc.r1_every), {"r1": penalty}
      d_state, r1_metrics = make_train_step(r1_loss, d_opt, has_aux=True, grad_norm=False)(
          d_state, real)
      metrics["r1"] = r1_metrics["r1"]

    def g_loss(params, _):
      fakes = fake_images(spec, params, k_fake_g, n, tc.style_mixing)
      return generator_loss(disc.apply({"params": d_state.params["discriminator"]}, fakes))

    g_state, g_metrics = make_train_step(g_loss, g_opt, grad_norm=False)(state.g, real)
    beta = ema_beta(g_state.step, tc)
    ema = jax.tree.map(lambda e, p: p + (e - p) * beta, state.ema, g_state.params)
    metrics["g_loss"] = g_metrics["loss"]
    metrics["loss"] = metrics["d_loss"] + metrics["g_loss"]
    return state.replace(g=g_state, d=d_state, ema=ema), metrics

  return iteration


def export_generator(state: GanState, spec: GeneratorSpec, key) -> dict:
  """The EMA generator as a generator dict (``inverse3d.gan.generator``), host arrays, its
  ``w_avg`` the mean w of ``W_AVG_SAMPLES`` z drawn from ``key``."""
  generator = {**jax.device_get(state.ema), "noise": tuple(np.asarray(n) for n in state.noise),
               "w_avg": np.zeros((spec.style_dim,), np.float32)}
  generator["w_avg"] = np.asarray(mean_w(generator, key))
  return generator


def check_images(images, spec: GeneratorSpec) -> np.ndarray:
  """The training images as uint8 (N, R, R, 3)."""
  check_shape("images", images, ("N", spec.resolution, spec.resolution, 3))
  check_dtype("images", images, "u")
  return np.asarray(images, np.uint8)


def train(config, workdir, images, *, evaluate=None, devices=None) -> dict:
  """Trains the GAN on ``images``, resuming from ``workdir``.

  Args:
    config: ConfigDict with ``seed``, ``model`` and ``train`` (module docstring).
    images: uint8 (N, R, R, 3) training images, R = config.model.resolution.
    evaluate: optional ``evaluate(step, generator) -> dict`` called every
      ``config.train.eval_every`` iterations and at the end with the exported EMA generator;
      its fields join that step's metrics line.
    devices: for data parallelism (default every device of every process).
  Returns:
    {"generator": the EMA generator dict (host arrays), "discriminator": its params,
     "train_seconds": over every resumed run}.
  Raises:
    FloatingPointError naming the first iteration whose loss was not finite.
  """
  tc = config.train
  spec = spec_from_config(config.model)
  images = check_images(images, spec)
  batch_size = check_positive_int("config.train.batch_size", tc.batch_size)
  steps = check_positive_int("config.train.steps", tc.steps)
  check_positive_int("config.train.r1_every", tc.r1_every)
  init_key, order_key, w_key = jax.random.split(jax.random.key(config.seed), 3)
  dp = DataParallel(devices)
  rows = dp.local_rows(batch_size)
  if (batch_size // dp.n_devices) % min(4, batch_size // dp.n_devices):
    raise ValueError(f"config.train.batch_size: expected a multiple of 4 per device "
                     f"(minibatch stddev groups), got {batch_size} over {dp.n_devices} devices")
  loop = TrainLoop(workdir, trajectory_fingerprint(config), total_steps=steps,
                   log_every=tc.log_every, checkpoint_every=tc.checkpoint_every,
                   keep_checkpoints=tc.keep_checkpoints, name="gan")
  fresh = functools.partial(init_state, spec, tc, init_key)
  if loop.done:
    state = loop.restore(dp.abstract(jax.eval_shape(fresh)))
  else:
    state = dp.replicate(fresh())
  compiled = {}

  def iteration(regularize: bool):
    """The compiled iteration, built when first used (a short run may never regularise)."""
    if regularize not in compiled:
      compiled[regularize] = dp.compile(make_iteration(spec, tc, config.seed, regularize))
    return compiled[regularize]

  batches = Batches(ArraySource({"images": images}), order_key, batch_size, rows,
                    start_step=loop.done, what="training images")
  if loop.done:
    batches.resume(loop.meta["input"])

  def evaluation(step):
    return lambda: evaluate(step, export_generator(state, spec, w_key))

  for step in range(loop.done + 1, steps + 1):
    batch = next(batches)["images"]
    state, metrics = iteration(step % tc.r1_every == 0)(state, dp.shard(batch))
    evaluated = evaluate is not None and (step == steps or (
        tc.eval_every > 0 and step % tc.eval_every == 0))
    loop.end_step(step, state, metrics, meta=lambda: {"input": batches.get_state()},
                  log=evaluated, evaluate=evaluation(step) if evaluated else None)
  loop.close()
  return {"generator": export_generator(state, spec, w_key),
          "discriminator": jax.device_get(state.d.params["discriminator"]),
          "train_seconds": loop.train_seconds}
