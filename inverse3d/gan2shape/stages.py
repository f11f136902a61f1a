"""GAN2Shape's stage loop over a batch of images: ``run_stages``.

For each stage, the three steps of ``steps`` in order (GAN2Shape's steps 1-3)::

    "prior":  stage 0 fits the depth net to the ellipsoid prior, then the albedo net to the
              image under view 0 and the frontal light; later stages refit the albedo net under
              the view and light the nets read from the image.
    "pseudo": draws config.pseudo.samples views and lights per image, renders the pseudo
              samples, trains the image's latent encoder on them, keeps their projections.
    "shape":  trains the depth, albedo, view and light nets on the image and its projections.

Every image has its own nets and encoder (GAN2Shape fits one image at a time); the images run
side by side over the devices (``DataParallel.compile_per_sample``). A fresh optimiser is made
for each step (as published). With a ``workdir`` the loop checkpoints after every step and a
killed run resumes after the last one it finished; a non-finite loss stops it naming the
stage, step and iteration, the last good checkpoint kept.
"""
from __future__ import annotations

import hashlib
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from inverse3d.gan2shape import steps as S
from inverse3d.gan2shape.networks import init_nets, photo_geometric_nets, predict_factors
from inverse3d.gan2shape.prior import ellipsoid_depth
from inverse3d.progress import MetricsWriter, Progress
from inverse3d.train import Checkpoints, DataParallel, config_fingerprint

PHASES = ("prior", "pseudo", "shape")


def nets_of(config) -> dict:
  return photo_geometric_nets(config.nets.nf, config.nets.zdim, config.nets.encoder_nf)


def offset_layer_of(gan: dict) -> int:
  return int(gan["encoder"]["offset_layer"])


def images_digest(images) -> str:
  """A short hash of the images: a workdir resumes only the images it started with."""
  return hashlib.sha1(np.ascontiguousarray(images, np.float32).tobytes()).hexdigest()[:16]


def initial_state(gan: dict, config, images, masks, key) -> dict:
  """Host per-image state {"params", "prior", "projected"}, leading axis the images: fresh nets
  (one key per image), the encoder centred on each image, the ellipsoid prior of each mask."""
  nets = nets_of(config)
  resolution = images.shape[1]
  # The nets' init from rbg keys seeded by ``key``: threefry's bits made the init's compile
  # ten times longer on CPU.
  seeds = np.asarray(jax.random.randint(key, (len(images),), 0, 2 ** 31 - 1))
  params = [init_nets(nets, jax.random.key(int(s), impl="rbg"), resolution) for s in seeds]
  params = jax.tree.map(lambda *x: np.stack(x), *params)
  encoder = {k: gan["encoder"][k] for k in ("net", "h0", "center_image")}
  centred = jax.jit(jax.vmap(lambda image: S.image_encoder(
      gan, encoder, image, offset_layer_of(gan))))(jnp.asarray(images))
  pc = config.prior
  prior = ellipsoid_depth(masks, pc.near, pc.far, pc.raise_top, pc.threshold)
  n = config.pseudo.samples
  return {"params": {**params, "encoder": jax.device_get(centred)},
          "prior": np.asarray(prior),
          "projected": np.zeros((len(images), n) + images.shape[1:], np.float32)}


_COMPILED: dict = {}
"""Compiled per-image functions by (name, what they bake in): repeated calls (a job's batches of
images, a resumed run) reuse them."""


def _static_key(config, gan: dict, dp: DataParallel) -> str:
  """What the compiled steps bake in: every setting but the step counts, rates and prior
  geometry (passed as data or used outside them), the encoder's offset layer, the devices."""
  c = config.to_dict()
  baked = {"nets": c["nets"], "loss": c["loss"], "weight_decay": c["weight_decay"],
           "pseudo": {k: v for k, v in c["pseudo"].items() if k not in ("steps", "lr")},
           "shape": c["shape"]["batch"], "offset_layer": offset_layer_of(gan),
           "devices": [d.id for d in dp.devices]}
  return json.dumps(baked, sort_keys=True, default=str)


class _Runner:
  """The per-image steps of one run on ``dp``'s devices, compiled once per setting."""

  def __init__(self, gan: dict, config, dp: DataParallel):
    self.gan, self.config, self.dp = gan, config, dp
    self.nets = nets_of(config)
    self.shared = dp.replicate({k: gan[k] for k in ("generator", "discriminator")})
    self.offset_layer = offset_layer_of(gan)
    self.key = _static_key(config, gan, dp)

  def compiled(self, name: str, build):
    if (name, self.key) not in _COMPILED:
      _COMPILED[name, self.key] = build()
    return _COMPILED[name, self.key]

  def loss(self, name: str, shared):
    c, nets, features = self.config, self.nets, S.feature_fn(shared)
    if name == "depth":
      return S.depth_prior_loss(nets)
    if name == "albedo":
      return S.albedo_loss(nets, features, c.loss.perceptual_weight, c.loss.smooth_weight)
    if name == "encoder":
      return S.projection_loss(shared, self.offset_layer, c.pseudo.batch,
                               c.pseudo.feature_weight, c.pseudo.offset_weight)
    return S.shape_loss(nets, features, c.shape.batch, c.loss.perceptual_weight,
                        c.loss.smooth_weight)

  def train(self, name: str, trainable: tuple, params: dict, batch: dict, steps: int,
            lr: float, where: str, metrics: MetricsWriter | None) -> tuple[dict, float]:
    """``steps`` optimiser steps of loss ``name`` on every image; (params, steps per second)."""
    wd = self.config.weight_decay

    def build():
      opt = S.optimizer(wd)

      def step(shared, state, batch):
        return S.train_step(self.loss(name, shared), opt)(state, {**batch, "step": state.step})
      fresh = jax.jit(jax.vmap(lambda p, lr: S.fresh_state(p, wd, trainable, lr),
                               in_axes=(0, None)))
      return self.dp.compile_per_sample(step), fresh
    run, fresh = self.compiled(name, build)
    state = fresh(self.dp.shard(params), np.float32(lr))
    batch = self.dp.shard(batch)
    progress = Progress(f"gan2shape {where} {name}", total=steps, unit="steps")
    start, out = time.perf_counter(), {}
    for i in range(1, steps + 1):
      state, out = run(self.shared, state, batch)
      if i % self.config.log_every == 0 or i == steps:
        loss = np.asarray(out["loss"])
        bad = np.flatnonzero(~np.isfinite(loss))
        if bad.size:
          raise FloatingPointError(f"gan2shape: {where}, {name} iteration {i}: the loss is "
                                   f"not finite for images {bad.tolist()}")
        progress.update(i - progress.done, loss=float(loss.mean()))
        if metrics is not None:
          metrics.write(where=where, step=name, iteration=i,
                        **{k: np.asarray(v).tolist() for k, v in out.items()})
    rate = steps / max(time.perf_counter() - start, 1e-9)
    progress.close()
    return jax.device_get(state.params), rate

  def per_image(self, name: str, fn, params, batch):
    """``fn(shared, params, batch)`` of one image (not a training step), compiled, on every
    image."""
    run = self.compiled(name, lambda: self.dp.compile_per_sample(fn, donate=False))
    return jax.device_get(run(self.shared, self.dp.shard(params), self.dp.shard(batch)))


def _prior(runner: _Runner, state: dict, images, stage: int, where: str, metrics) -> dict:
  c = runner.config
  params, rates = state["params"], {}
  n = len(images)
  if stage == 0:
    params, rates["depth"] = runner.train("depth", ("depth",), params,
                                          {"image": images, "prior": state["prior"]},
                                          c.prior.depth_steps, c.prior.lr, where, metrics)
    views = np.zeros((n, 6), np.float32)
    lights = np.tile(np.asarray(S.FRONTAL_LIGHT, np.float32), (n, 1))
  else:
    def factors(shared, params, batch):
      f = predict_factors(runner.nets, params, batch["image"][None])
      return {"view": f["view"][0], "light": f["light"][0]}
    f = runner.per_image("factors", factors, params, {"image": images})
    views, lights = f["view"], f["light"]
  params, rates["albedo"] = runner.train("albedo", ("albedo",), params,
                                         {"image": images, "view": views, "light": lights},
                                         c.prior.steps, c.prior.lr, where, metrics)
  return {**state, "params": params}, rates


def _pseudo(runner: _Runner, state: dict, images, key, where: str, metrics) -> dict:
  c = runner.config.pseudo
  ranges = {"dx": tuple(c.light_dx), "dy": tuple(c.light_dy), "strength": tuple(c.strength),
            "ambient_scale": c.ambient_scale}
  mean, std = np.zeros(6, np.float32), np.asarray(c.view_std, np.float32)

  def draw(shared, params, batch):
    return S.pseudo_samples(runner.nets, params, batch["image"],
                            jax.random.wrap_key_data(batch["key"]), c.samples, ranges, mean,
                            std, c.yaw_scale)["images"]
  keys = jax.random.key_data(jax.random.split(key, len(images)))
  pseudo = runner.per_image("draw", draw, state["params"], {"image": images, "key": keys})
  params, rate = runner.train("encoder", ("encoder",), state["params"], {"pseudo": pseudo},
                              c.steps, c.lr, where, metrics)

  def project(shared, params, batch):
    return S.projected_samples(shared, params["encoder"], batch["pseudo"],
                               runner.offset_layer)
  projected = runner.per_image("project", project, params, {"pseudo": pseudo})
  return {**state, "params": params, "projected": projected}, {"encoder": rate}


def _shape(runner: _Runner, state: dict, images, where: str, metrics) -> dict:
  c = runner.config.shape
  params, rate = runner.train("shape", S.NETS, state["params"],
                              {"image": images, "projected": state["projected"]}, c.steps, c.lr,
                              where, metrics)
  return {**state, "params": params}, {"shape": rate}


def run_stages(gan: dict, config, images, masks, key, *, workdir=None, devices=None) -> dict:
  """Runs every stage on images (B, R, R, 3) in [0, 1] with masks (B, R, R).

  Returns {"state": the final host per-image state, "factors": ``steps.final_factors`` of
  every image, "rates": {step: steps per second}, "seconds": wall seconds of this call}. B must be a multiple of the devices.
  """
  dp = DataParallel(devices)
  if len(images) % dp.n_devices:
    raise ValueError(f"images: expected a multiple of the {dp.n_devices} devices, got "
                     f"{len(images)}")
  runner = _Runner(gan, config, dp)
  k_init, k_stages = jax.random.split(key)
  state = initial_state(gan, config, images, masks, k_init)
  checkpoints = metrics = None
  done = 0
  if workdir is not None:
    fingerprint = {**config_fingerprint(config), "images": images_digest(images),
                   "key": np.asarray(jax.random.key_data(key)).tolist()}
    checkpoints = Checkpoints(f"{workdir}/checkpoints", fingerprint, every=1, keep=2)
    metrics = MetricsWriter(workdir)
    latest = checkpoints.latest_step()
    if latest is not None:
      checkpoints.read_meta(latest)
      state = jax.device_get(checkpoints.restore(latest, dp.abstract(state)))
      done = latest
      logging.info("gan2shape: resuming after stage %d step %s", (done - 1) // 3,
                   PHASES[(done - 1) % 3])
  rates, start = {}, time.perf_counter()
  for index in range(done, config.stages * len(PHASES)):
    stage, phase = divmod(index, len(PHASES))
    where = f"stage {stage} {PHASES[phase]}"
    if PHASES[phase] == "prior":
      state, rate = _prior(runner, state, images, stage, where, metrics)
    elif PHASES[phase] == "pseudo":
      state, rate = _pseudo(runner, state, images, jax.random.fold_in(k_stages, stage), where,
                            metrics)
    else:
      state, rate = _shape(runner, state, images, where, metrics)
    rates.update(rate)
    if checkpoints is not None:
      checkpoints.save(index + 1, state, {"stage": stage, "phase": PHASES[phase]}, force=True)
  if checkpoints is not None:
    checkpoints.close()
  factors = runner.per_image(
      "final", lambda shared, params, batch: S.final_factors(runner.nets, params,
                                                             batch["image"]),
      state["params"], {"image": images})
  return {"state": state, "factors": factors, "rates": rates,
          "seconds": time.perf_counter() - start}

