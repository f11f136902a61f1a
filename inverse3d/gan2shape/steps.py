"""GAN2Shape's three steps for one image: their losses and optimiser steps.

Every function here sees one image; ``stages`` runs them for many images side by side
(:meth:`inverse3d.train.DataParallel.compile_per_sample`: one set of nets per image, no
averaging across images). Images are (R, R, 3) in [0, 1]; the generator's are in [-1, 1].

Per-image params (a :class:`inverse3d.train.TrainState` whose ``trainable`` names the step's
components): "depth", "albedo", "view", "light" (``networks``) and "encoder" = {"net",
"h0", "center_image"} (the latent encoder of ``inverse3d.gan.inversion``, centred on this
image: h0 its hidden latent, center_image the image itself, so that a pseudo sample P projects
to w(P) = Mapping(h0 + E(P) - E(I), start=k)).

1. Prior: ``depth_prior_loss`` fits the depth net to the ellipsoid; ``albedo_loss`` then fits
   the albedo net to the image with the depth net frozen, under a given view and light
   (stage 0: view 0 and the frontal light the light net gives at zero).
2. Pseudo samples: :func:`pseudo_samples` renders (depth, albedo) under drawn views and lights;
   ``projection_loss`` trains the encoder on them (L1 + discriminator-feature L1 + 0.01
   mean(offset^2)); :func:`projected_samples` gives G(w(P)).
3. Shape: ``shape_loss``, the image's reconstruction loss under the nets' own view and light,
   plus, for every projected sample Q, L1 + perceptual of the image's depth and albedo
   rendered under the view and light the nets read from Q.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from inverse3d.gan.generator import broadcast_w, synthesize
from inverse3d.gan.inversion import (discriminator_features, encoder_module,
                                     latents_from_images, offset_loss)
from inverse3d.gan2shape.networks import (albedo_output, depth_output, light_output,
                                          predict_factors, view_output)
from inverse3d.gan2shape.photometric import reconstruction_loss, render_image
from inverse3d.gan2shape.sampling import sample_lights, sample_views
from inverse3d.render import depth_to_normals
from inverse3d.train import create_state, make_train_step

NETS = ("depth", "albedo", "view", "light")
FRONTAL_LIGHT = (0.5, 0.5, 0.0, 0.0)
"""[ambient, diffuse, dx, dy]: what the light net's output map gives at zero (light from the
camera)."""


def to_gan(images):
  """[0, 1] -> the generator's [-1, 1]."""
  return images * 2.0 - 1.0


def from_gan(images):
  """The generator's images -> [0, 1], clipped."""
  return jnp.clip((images + 1.0) / 2.0, 0.0, 1.0)


def feature_fn(gan: dict) -> Callable:
  """The perceptual features: the discriminator's first residual blocks (GAN2Shape's LPIPS-VGG
  cannot be downloaded), of images (N, R, R, 3) in [0, 1]."""
  return lambda images: discriminator_features(gan["generator"], gan["discriminator"],
                                               to_gan(images))


def optimizer(weight_decay: float) -> optax.GradientTransformation:
  """GAN2Shape's: Adam (0.9, 0.999) with L2 weight decay added to the gradient; the learning
  rate is given to ``init`` through the state (``optax.inject_hyperparams``), so one compiled
  step serves every learning rate: ``optimizer(wd).init(params)`` then set
  ``opt_state.hyperparams["learning_rate"]``, or use :func:`fresh_state`."""
  def make(learning_rate):
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.adam(learning_rate, 0.9, 0.999))
  return optax.inject_hyperparams(make)(learning_rate=0.0)


def fresh_state(params: dict, weight_decay: float, trainable: tuple, lr):
  """A new optimiser (GAN2Shape re-creates it at every step) on ``trainable``, rate ``lr``."""
  state = create_state(params, optimizer(weight_decay), trainable)
  opt_state = state.opt_state
  opt_state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
  return state.replace(opt_state=opt_state)


def _batch_of(pool, step, size: int):
  """``size`` rows of pool (N, ...) for iteration ``step``, in order, wrapping around."""
  index = (step * size + jnp.arange(size)) % pool.shape[0]
  return pool[index]


def depth_prior_loss(nets: dict):
  def loss_fn(params, batch):
    raw = nets["depth"].apply({"params": params["depth"]}, batch["image"][None])
    error = jnp.mean(jnp.square(depth_output(raw) - batch["prior"][None]))
    return error, {"depth_mse": error}
  return loss_fn


def albedo_loss(nets: dict, features: Callable, perceptual_weight: float,
                smooth_weight: float):
  def loss_fn(params, batch):
    image = batch["image"][None]
    depth = depth_output(nets["depth"].apply({"params": params["depth"]}, image))
    albedo = albedo_output(nets["albedo"].apply({"params": params["albedo"]}, image))
    rendered = render_image(depth, albedo, batch["view"][None], batch["light"][None])
    return reconstruction_loss(rendered, image, depth, features,
                               perceptual_weight=perceptual_weight, smooth_weight=smooth_weight)
  return loss_fn


def projection_loss(gan: dict, offset_layer: int, batch_size: int, feature_weight: float,
                    offset_weight: float):
  def loss_fn(params, batch):
    enc = params["encoder"]
    targets = to_gan(_batch_of(batch["pseudo"], batch["step"], batch_size))
    loss, aux, _ = offset_loss(gan["generator"], gan["discriminator"], enc["net"], enc["h0"],
                               enc["center_image"], targets, offset_layer, feature_weight,
                               offset_weight)
    return loss, aux
  return loss_fn


def shape_loss(nets: dict, features: Callable, batch_size: int, perceptual_weight: float,
               smooth_weight: float):
  def loss_fn(params, batch):
    image = batch["image"][None]
    projected = _batch_of(batch["projected"], batch["step"], batch_size)
    f = predict_factors(nets, params, image)
    views = view_output(nets["view"].apply({"params": params["view"]}, projected))
    lights = light_output(nets["light"].apply({"params": params["light"]}, projected))
    # the image and its projected samples in one rendering: the image's depth and albedo
    # under its own view and light, then under each sample's
    repeat = lambda x: jnp.repeat(x, batch_size + 1, axis=0)
    rendered = render_image(repeat(f["depth"]), repeat(f["albedo"]),
                            jnp.concatenate([f["view"], views]),
                            jnp.concatenate([f["light"], lights]))
    first = jax.tree.map(lambda x: x[:1], rendered)
    rest = jax.tree.map(lambda x: x[1:], rendered)
    loss, aux = reconstruction_loss(first, image, f["depth"], features,
                                    perceptual_weight=perceptual_weight,
                                    smooth_weight=smooth_weight)
    pseudo_loss, pseudo_aux = reconstruction_loss(rest, projected, rest["depth"], features,
                                                  perceptual_weight=perceptual_weight,
                                                  smooth_weight=0.0)
    return loss + pseudo_loss, {**aux, "projected_l1": pseudo_aux["l1"]}
  return loss_fn


def train_step(loss_fn, opt: optax.GradientTransformation) -> Callable:
  """One image's step ``(state, batch) -> (state, metrics)`` on the core's step builder, with
  nothing averaged across images."""
  return make_train_step(loss_fn, opt, has_aux=True, axis_name=None, grad_norm=False)


def pseudo_samples(nets: dict, params: dict, image, key, n: int, light_ranges: dict,
                   view_mean, view_std, yaw_scale: float) -> dict:
  """n renders (n, R, R, 3) of the image's current depth and albedo under views and lights
  drawn around the image's own (``sampling``), with the views and lights."""
  f = predict_factors(nets, params, image[None])
  k_view, k_light = jax.random.split(key)
  views = sample_views(k_view, n, view_mean, view_std, yaw_scale=yaw_scale)
  lights = sample_lights(k_light, n, f["light"][0], **light_ranges)
  repeat = lambda x: jnp.repeat(x, n, axis=0)
  rendered = render_image(repeat(f["depth"]), repeat(f["albedo"]), views, lights)
  return {"images": rendered["image"], "views": views, "lights": lights}


def projected_samples(gan: dict, encoder: dict, pseudo, offset_layer: int):
  """G(w(P)) (n, R, R, 3) in [0, 1] of pseudo samples P (n, R, R, 3) in [0, 1]."""
  g = gan["generator"]
  w, _ = latents_from_images(g, encoder["net"], encoder["h0"], to_gan(pseudo),
                             encoder["center_image"], offset_layer)
  return from_gan(synthesize(g, broadcast_w(g, w)))


def image_encoder(gan: dict, encoder: dict, image, offset_layer: int) -> dict:
  """The pre-trained encoder centred on one image (R, R, 3) in [0, 1]: h0 <- the image's
  hidden latent h0 + E(I) - E(I0) (its inversion), center_image <- the image."""
  target = to_gan(image)[None]
  net = encoder["net"]
  codes = encoder_module(net).apply({"params": net},
                                    jnp.concatenate([target, encoder["center_image"]]))
  return {"net": net, "h0": encoder["h0"] + codes[0] - codes[1], "center_image": target}


def final_factors(nets: dict, params: dict, image) -> dict:
  """The fitted factors of one image (R, R, 3): depth in its view and the normals of that
  depth, the canonical depth, albedo, view, light, shading and the reconstruction."""
  f = predict_factors(nets, params, image[None])
  rendered = render_image(f["depth"], f["albedo"], f["view"], f["light"])
  out = {"depth": rendered["depth"], "normals": depth_to_normals(rendered["depth"]),
         "canonical_depth": f["depth"], "albedo": f["albedo"], "view": f["view"],
         "light": f["light"], "shading": rendered["shading"],
         "reconstruction": rendered["image"]}
  return jax.tree.map(lambda x: x[0], out)
