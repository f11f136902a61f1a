"""GAN inversion, the two kinds GAN2Shape (Pan et al. 2021) needs: images -> latents.

    out = invert(generator, d_params, images, steps=200, space="w")  # out["w"], out["images"]
    enc = train_latent_encoder(generator, d_params, steps=2000, batch_size=16, key=key)
    w = encode_latent(generator, enc, images)                        # (B, D), one forward pass

Both minimise the same reconstruction loss of an image I and a reconstruction G(w) (constant
noise), per image::

    loss(w) = mean |G(w) - I| + feature_weight * sum_b mean |D_b(G(w)) - D_b(I)|

D_b: the discriminator's first ``FEATURE_BLOCKS`` residual-block outputs (fewer if it has
fewer), computed without the minibatch-stddev layer's coupling of samples, so each image's loss
depends on its own latent only.

:func:`invert` optimises one latent per image (w (D,) or w+ (n_latent, D)) with Adam from the
mean w, all steps in one compiled ``lax.scan``.

The latent encoder predicts an offset in the mapping network's hidden space at layer
k = ``offset_layer`` (GAN2Shape's latent offset)::

    h0 = mean over random z of Mapping(z, stop=k)                (D,)
    offset(I) = E(I) - E(I0),   I0 = G(w0),  w0 = Mapping(h0, start=k)     (relative encoding)
    w(I) = Mapping(h0 + offset(I), start=k)

so the centre image I0 maps to w0 exactly, and a fresh encoder (last layer zero) maps every
image there. h0 and I0 are computed once, when the encoder is made, and kept with it.
:func:`train_latent_encoder` fits E on generator samples G(z) with GAN2Shape's
step-2 loss: the reconstruction loss above + ``offset_weight`` * mean(offset^2).

Encoder params: {"net": LatentEncoder params, "h0": (D,), "center_image": I0 (1, R, R, 3),
"offset_layer": int32 k}.
Images are NHWC in [-1, 1] at the generator's resolution; value checks follow
``inverse3d.checks`` (host inputs always, device arrays under ``checks.debug_values``).
"""
from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from inverse3d.checks import (check_choice, check_dtype, check_finite, check_min_size,
                              check_number, check_positive_int, check_range, check_shape,
                              check_tree_shapes)
from inverse3d.gan.layers import conv_impl, resolved_conv_impl
from inverse3d.gan.generator import (W_AVG_SAMPLES, broadcast_w, map_latents, mean_w, spec_of,
                                     synthesize)
from inverse3d.gan.networks import Discriminator
from inverse3d.train import DataParallel, create_state, make_train_step

FEATURE_BLOCKS = 4
SPACES = ("w", "w+")
ENCODER_WIDTHS = (32, 64, 128, 256)


# --- checks -----------------------------------------------------------------------------------

def check_images(images, resolution: int):
  """images: float (B, R, R, 3), finite, in [-1, 1] (value checks per ``inverse3d.checks``)."""
  check_shape("images", images, ("B", resolution, resolution, 3))
  check_min_size("images", images, 1)
  check_dtype("images", images, "f")
  check_finite("images", images)
  check_range("images", images, -1.0, 1.0)
  return images if isinstance(images, jax.Array) else np.asarray(images, np.float32)


@functools.lru_cache(maxsize=16)
def _discriminator_shapes(channels: tuple, resolution: int):
  images = jnp.zeros((1, resolution, resolution, 3))
  return jax.eval_shape(lambda: Discriminator(channels).init(jax.random.key(0), images))["params"]


def check_discriminator(generator: dict, params) -> None:
  """``params``: the Discriminator params for the generator's channels and resolution."""
  spec = spec_of(generator)
  check_tree_shapes("discriminator_params", params,
                    _discriminator_shapes(spec.channels, spec.resolution))


# --- the reconstruction loss ------------------------------------------------------------------

def discriminator_features(generator: dict, d_params, images) -> list:
  """The first ``FEATURE_BLOCKS`` residual-block outputs of D, highest resolution first.

  ``stddev_group=1``: the minibatch-stddev layer (after the blocks) sees one sample at a time,
  so any batch size is accepted and no sample's features depend on another's."""
  disc = Discriminator(spec_of(generator).channels, stddev_group=1)
  _, blocks = disc.apply({"params": d_params}, images, features=True)
  return blocks[:FEATURE_BLOCKS]


def reconstruction_loss(generator: dict, d_params, images, targets, feature_weight,
                        target_features=None):
  """Per-image loss (B,): pixel L1 + feature_weight * sum over blocks of feature L1.

  ``target_features``: the targets' (constant); None computes them in the same pass of D as
  the images' (one copy of D in the compiled graph), without a gradient."""
  pixel = jnp.mean(jnp.abs(images - targets), axis=(1, 2, 3))
  if target_features is None:
    both = discriminator_features(
        generator, d_params, jnp.concatenate([images, jax.lax.stop_gradient(targets)]))
    feats = [f[:len(images)] for f in both]
    target_features = [jax.lax.stop_gradient(f[len(images):]) for f in both]
  else:
    feats = discriminator_features(generator, d_params, images)
  feature = sum(jnp.mean(jnp.abs(a - b), axis=(1, 2, 3)) for a, b in zip(feats, target_features))
  return pixel + feature_weight * feature


# --- optimisation-based inversion -------------------------------------------------------------

def project(generator, d_params, targets, latent, lr, feature_weight, tied, steps: int):
  """Adam on w+ ``latent`` (B, n_latent, D) towards ``targets`` (B, R, R, 3) for ``steps``
  steps -> (latent, its images, loss curve (steps,): the batch mean before each step).

  ``tied`` (a traced bool) optimises in w space: the rows start equal and each is given the
  sum of the rows' gradients (w's own gradient), so Adam, elementwise, keeps them equal. This
  is Adam on w, and one compiled function serves both spaces."""
  target_features = [jax.lax.stop_gradient(f)
                     for f in discriminator_features(generator, d_params, targets)]
  opt = optax.adam(lr)

  def total(latent):
    images = synthesize(generator, broadcast_w(generator, latent))
    return jnp.sum(reconstruction_loss(generator, d_params, images, targets, feature_weight,
                                       target_features))

  def step(carry, _):
    latent, opt_state = carry
    loss, grad = jax.value_and_grad(total)(latent)
    grad = jnp.where(tied, jnp.broadcast_to(jnp.sum(grad, 1, keepdims=True), grad.shape), grad)
    updates, opt_state = opt.update(grad, opt_state, latent)
    return (optax.apply_updates(latent, updates), opt_state), loss / targets.shape[0]

  (latent, _), curve = jax.lax.scan(step, (latent, opt.init(latent)), None, length=steps)
  return latent, synthesize(generator, broadcast_w(generator, latent)), curve


@functools.partial(jax.jit, static_argnames=("steps", "impl"))
def _project(generator, d_params, targets, latent, lr, feature_weight, tied, *, steps, impl):
  # impl: the convolutions' (static, so the compiled function follows layers.conv_impl)
  with conv_impl(impl):
    return project(generator, d_params, targets, latent, lr, feature_weight, tied, steps)


def invert(generator: dict, discriminator_params, images, *, steps: int = 200, lr: float = 0.05,
           space: str = "w", feature_weight: float = 1.0, key=None) -> dict:
  """Projects each image onto the generator: its own latent, optimised by Adam.

  Args:
    generator: a generator dict; discriminator_params: its Discriminator's params.
    images: float (B, R, R, 3) in [-1, 1], R the generator's resolution.
    steps, lr: Adam steps and learning rate. space: "w" (one (D,) latent per image) or "w+"
      (one per synthesis layer, (n_latent, D)).
    feature_weight: weight of the discriminator-feature L1 (module docstring), >= 0.
    key: None starts every latent at ``generator["w_avg"]``; a key starts at the mean w of
      ``W_AVG_SAMPLES`` z drawn from it (for a generator without a w_avg, e.g. a fresh one).
  Returns:
    {"w": (B, D) or (B, n_latent, D), "images": (B, R, R, 3) reconstructions from "w",
     "loss": (steps,) the batch-mean loss before each step}.
  """
  spec = spec_of(generator)
  images = check_images(images, spec.resolution)
  steps = check_positive_int("steps", steps)
  lr = check_number("lr", lr, positive=True)
  check_choice("space", space, SPACES)
  feature_weight = check_number("feature_weight", feature_weight)
  check_discriminator(generator, discriminator_params)
  start = generator["w_avg"] if key is None else mean_w(generator, key)
  latent = jnp.broadcast_to(jnp.asarray(start, jnp.float32),
                            (images.shape[0], spec.n_latent, spec.style_dim))
  w, recon, curve = _project(generator, discriminator_params, images, latent, jnp.float32(lr),
                             jnp.float32(feature_weight), jnp.bool_(space == "w"), steps=steps,
                             impl=resolved_conv_impl())
  return {"w": w[:, 0] if space == "w" else w, "images": recon, "loss": curve}


# --- the latent encoder -----------------------------------------------------------------------

class EncoderBlock(nn.Module):
  """Residual downsampling block: two 3x3 convolutions (the second stride 2) beside a stride-2
  1x1 skip, summed and scaled by 1 / sqrt(2). (B, H, W, I) -> (B, ceil(H/2), ., features)."""
  features: int

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.features, (3, 3), name="conv1")(nn.leaky_relu(x, 0.2))
    y = nn.Conv(self.features, (3, 3), strides=2, name="conv2")(nn.leaky_relu(y, 0.2))
    skip = nn.Conv(self.features, (1, 1), strides=2, use_bias=False, name="skip")(x)
    return (y + skip) * (1.0 / math.sqrt(2.0))


class LatentEncoder(nn.Module):
  """Images (B, H, W, 3) in [-1, 1] -> vectors (B, features): a 3x3 stem, one
  :class:`EncoderBlock` per width, global mean pooling and a dense layer that starts at zero
  (a fresh encoder predicts zero offsets)."""
  features: int
  widths: tuple = ENCODER_WIDTHS

  @nn.compact
  def __call__(self, images):
    x = nn.Conv(self.widths[0], (3, 3), name="stem")(images)
    for i, width in enumerate(self.widths):
      x = EncoderBlock(width, name=f"block_{i}")(x)
    x = jnp.mean(nn.leaky_relu(x, 0.2), axis=(1, 2))
    return nn.Dense(self.features, kernel_init=nn.initializers.zeros, name="out")(x)


def encoder_module(net_params) -> LatentEncoder:
  """The LatentEncoder whose params ``net_params`` are, read from their shapes."""
  blocks = len([k for k in net_params if k.startswith("block_")])
  widths = tuple(int(net_params[f"block_{i}"]["conv2"]["kernel"].shape[-1])
                 for i in range(blocks))
  return LatentEncoder(int(net_params["out"]["kernel"].shape[-1]), widths)


def resolve_offset_layer(generator: dict, offset_layer: int) -> int:
  """k in [0, mapping_layers] from ``offset_layer`` in [-L, L] (negative: from the end)."""
  layers = spec_of(generator).mapping_layers
  k = check_positive_int("offset_layer", offset_layer, minimum=-layers, maximum=layers,
                         hint=f"the generator has {layers} mapping layers")
  return layers + k if k < 0 else k


def hidden_mean(generator: dict, key, offset_layer: int, n: int = W_AVG_SAMPLES):
  """h0 (D,): the mean of Mapping(z, stop=offset_layer) over ``n`` standard normal z."""
  z = jax.random.normal(key, (n, spec_of(generator).style_dim))
  return jnp.mean(map_latents(generator, z, stop=offset_layer), 0)


@functools.partial(jax.jit, static_argnames=("offset_layer", "n", "widths", "impl"))
def _init_encoder(generator, key, *, offset_layer, n, widths, impl):
  """A fresh encoder's {"net", "h0", "center_image"} (module docstring), one compiled call."""
  spec = spec_of(generator)
  k_h, k_net = jax.random.split(key)
  images = jnp.zeros((1, spec.resolution, spec.resolution, 3))
  net = LatentEncoder(spec.style_dim, widths).init(k_net, images)["params"]
  h0 = hidden_mean(generator, k_h, offset_layer, n)
  w0 = map_latents(generator, h0[None], start=offset_layer)
  with conv_impl(impl):
    center_image = synthesize(generator, broadcast_w(generator, w0))
  return {"net": net, "h0": h0, "center_image": center_image}


def latents_from_images(generator: dict, net_params, h0, images, center_image,
                        offset_layer: int):
  """(w (B, D), offsets (B, D)) of images (B, R, R, 3); center_image (1, R, R, 3) = G(w0)
  (module docstring)."""
  codes = encoder_module(net_params).apply({"params": net_params},
                                           jnp.concatenate([images, center_image]))
  offsets = codes[:-1] - codes[-1:]
  return map_latents(generator, h0 + offsets, start=offset_layer), offsets


@functools.partial(jax.jit, static_argnames=("offset_layer",))
def _encode(generator, params, images, *, offset_layer):
  return latents_from_images(generator, params["net"], params["h0"], images,
                             params["center_image"], offset_layer)[0]


def encode_latent(generator: dict, encoder_params: dict, images, *,
                  offset_layer: int | None = None):
  """w (B, D) of images (B, R, R, 3) in [-1, 1] by the trained encoder (one forward pass).

  ``offset_layer``: None for the one the encoder was trained with (stored in its params);
  given, it must be that one."""
  spec = spec_of(generator)
  images = check_images(images, spec.resolution)
  names = ("net", "h0", "center_image", "offset_layer")
  if not isinstance(encoder_params, dict) or any(k not in encoder_params for k in names):
    got = sorted(encoder_params) if isinstance(encoder_params, dict) else type(encoder_params)
    raise ValueError(f"encoder_params: expected a dict with {names} (train_latent_encoder's), "
                     f"got {got}")
  check_shape("encoder_params['h0']", encoder_params["h0"], (spec.style_dim,))
  check_shape("encoder_params['center_image']", encoder_params["center_image"],
              (1, spec.resolution, spec.resolution, 3))
  trained = int(encoder_params["offset_layer"])
  if offset_layer is not None and resolve_offset_layer(generator, offset_layer) != trained:
    raise ValueError(f"offset_layer: expected the encoder's own {trained}, got {offset_layer}")
  params = {k: encoder_params[k] for k in names[:3]}
  return _encode(generator, params, images, offset_layer=trained)


def encoder_loss(generator: dict, offset_layer: int, feature_weight: float,
                 offset_weight: float):
  """``loss_fn(params, z) -> (loss, aux)`` for ``make_train_step``: params {"net", "h0",
  "center_image", "generator", "discriminator"}, z (b, D) this device's latents; targets G(z)."""

  def loss_fn(params, z):
    g = params["generator"]
    targets = jax.lax.stop_gradient(synthesize(g, broadcast_w(g, map_latents(g, z))))
    loss, aux, _ = offset_loss(g, params["discriminator"], params["net"], params["h0"],
                               params["center_image"], targets, offset_layer, feature_weight,
                               offset_weight)
    return loss, aux

  return loss_fn


def offset_loss(generator: dict, d_params, net_params, h0, center_image, targets,
                offset_layer: int, feature_weight: float, offset_weight: float):
  """GAN2Shape's step-2 loss of the encoder on targets (B, R, R, 3) in [-1, 1]: the
  reconstruction loss of G(w(targets)) + ``offset_weight`` * mean(offset^2).

  Returns (scalar, {"l1", "offset_sq"}, reconstructions (B, R, R, 3))."""
  w, offsets = latents_from_images(generator, net_params, h0, targets, center_image,
                                   offset_layer)
  recon = synthesize(generator, broadcast_w(generator, w))
  rec = jnp.mean(reconstruction_loss(generator, d_params, recon, targets, feature_weight))
  reg = jnp.mean(jnp.square(offsets))
  l1 = jnp.mean(jnp.abs(recon - targets))
  return rec + offset_weight * reg, {"l1": l1, "offset_sq": reg}, recon


def train_latent_encoder(generator: dict, discriminator_params, *, steps: int, batch_size: int,
                         key, lr: float = 1e-3, offset_layer: int = -1,
                         feature_weight: float = 1.0, offset_weight: float = 0.01,
                         widths: tuple = ENCODER_WIDTHS, hidden_samples: int = W_AVG_SAMPLES,
                         devices=None) -> dict:
  """Trains a :class:`LatentEncoder` on generator samples (module docstring).

  Args:
    steps, batch_size: Adam steps on fresh z each; the global batch, a multiple of the
      devices. lr: Adam's learning rate.
    key: draws h0's z, the encoder's init and every batch's z.
    offset_layer: mapping layers run before the offset is added, in [-L, L] (negative from
      the end; -1, the default, before the last layer; L: the offset is added to w).
    feature_weight, offset_weight: the loss's weights (1 and GAN2Shape's 0.01).
    widths: the encoder's block widths. hidden_samples: z averaged for h0.
    devices: for data parallelism (default every device).
  Returns:
    encoder params {"net", "h0", "center_image", "offset_layer"} (host arrays), for
    :func:`encode_latent`.
  Raises:
    FloatingPointError if the final loss is not finite.
  """
  spec = spec_of(generator)
  steps = check_positive_int("steps", steps)
  batch_size = check_positive_int("batch_size", batch_size)
  lr = check_number("lr", lr, positive=True)
  k = resolve_offset_layer(generator, offset_layer)
  feature_weight = check_number("feature_weight", feature_weight)
  offset_weight = check_number("offset_weight", offset_weight)
  hidden_samples = check_positive_int("hidden_samples", hidden_samples)
  widths = tuple(check_positive_int("widths", x) for x in widths)
  check_min_size("widths", widths, 1)
  check_discriminator(generator, discriminator_params)
  dp = DataParallel(devices)
  rows = dp.local_rows(batch_size)
  k_init, k_z = jax.random.split(key)
  encoder = _init_encoder(generator, k_init, offset_layer=k, n=hidden_samples,
                          widths=widths, impl=resolved_conv_impl())
  opt = optax.adam(lr)
  params = {**encoder, "generator": generator, "discriminator": discriminator_params}
  state = dp.replicate(create_state(params, opt, ("net",)))
  run = dp.compile(make_train_step(encoder_loss(generator, k, feature_weight, offset_weight),
                                   opt, has_aux=True, grad_norm=False))
  metrics = {}
  for step in range(steps):
    z = jax.random.normal(jax.random.fold_in(k_z, step), (batch_size, spec.style_dim))
    state, metrics = run(state, dp.shard(np.asarray(z)[rows]))
  loss = float(dp.to_host(metrics["loss"]))
  if not math.isfinite(loss):
    raise FloatingPointError(f"train_latent_encoder: the loss is {loss} after {steps} steps")
  out = dp.to_host({name: state.params[name] for name in encoder})
  return {**out, "offset_layer": np.int32(k)}
