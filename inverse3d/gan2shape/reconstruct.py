"""GAN2Shape's public entry points: shape from images, and what can be done with it.

    gan = load_gan("workdirs/stylegan2_cpu")      # generator, discriminator, latent encoder
    out = reconstruct(images, gan, method_config("cpu"), key, masks=masks)
    out["depth"]                                  # (B, R, R) in the input's view
    relit = relight(out, light)                   # (B, R, R, 3) under another light
    turned = rotate(out, yaw_deg=30.0)            # seen from another view
    export_obj(path, out, 0)                      # image 0's surface as a textured mesh

Images (B, R, R, 3) float in [0, 1], R the generator's resolution. Every image, generated or
not, is first inverted by the latent encoder (its hidden latent h0 + E(I) - E(I0)); the stages
then fit it (``stages``).
"""
from __future__ import annotations

import math
import os

import jax
import numpy as np

from inverse3d.checks import check_dtype, check_finite, check_range, check_shape
from inverse3d.gan.export import load_discriminator, load_generator, load_tree
from inverse3d.gan.generator import spec_of
from inverse3d.gan.inversion import check_discriminator
from inverse3d.gan2shape.mask import predict_mask
from inverse3d.gan2shape.photometric import render_image
from inverse3d.gan2shape.stages import run_stages
from inverse3d.render import save_obj

ENCODER_KEYS = ("net", "h0", "center_image", "offset_layer")


def load_gan(workdir) -> dict:
  """{"generator", "discriminator", "encoder"} of a stylegan2 job's workdir (generator.npz,
  discriminator.npz, inversion/encoder.npz)."""
  generator = load_generator(os.path.join(workdir, "generator.npz"))
  return {"generator": generator,
          "discriminator": load_discriminator(os.path.join(workdir, "discriminator.npz"),
                                              generator),
          "encoder": load_tree(os.path.join(workdir, "inversion", "encoder.npz"),
                               "a latent encoder .npz written by the stylegan2 job")}


def check_gan(gan) -> int:
  """The generator's resolution, after checking ``gan`` is load_gan's dict of one layout."""
  if not isinstance(gan, dict) or any(k not in gan for k in
                                      ("generator", "discriminator", "encoder")):
    got = sorted(gan) if isinstance(gan, dict) else type(gan).__name__
    raise ValueError(f"gan: expected a dict with generator, discriminator and encoder "
                     f"(load_gan's), got {got}")
  spec = spec_of(gan["generator"])
  check_discriminator(gan["generator"], gan["discriminator"])
  encoder = gan["encoder"]
  missing = [k for k in ENCODER_KEYS if k not in encoder]
  if missing:
    raise ValueError(f"gan['encoder']: expected keys {ENCODER_KEYS} (train_latent_encoder's), "
                     f"missing {missing}")
  check_shape("gan['encoder']['center_image']", encoder["center_image"],
              (1, spec.resolution, spec.resolution, 3))
  return spec.resolution


def reconstruct(images, gan: dict, config, key, *, masks=None, mask_params=None,
                workdir=None, devices=None) -> dict:
  """Depth, albedo, view and light of each image by GAN2Shape.

  Args:
    images: (B, R, R, 3) float in [0, 1], finite; R the generator's resolution.
    gan: :func:`load_gan`'s dict. config: :func:`inverse3d.gan2shape.method_config`'s.
    key: draws the nets' init and the pseudo samples.
    masks: (B, R, R) object masks in [0, 1] (foreground >= config.prior.threshold), or None to
      predict them with ``mask_params`` (:func:`inverse3d.gan2shape.train_mask_net`'s).
    workdir: where the stage loop checkpoints (resumes after a kill); None keeps nothing.
    devices: the images run side by side over these (default every device); B a multiple.
  Returns (host arrays, leading axis the images):
    depth (B, R, R) in the input's view (the canonical depth rendered through the predicted
    view; DEPTH_RANGE's far end where nothing covers a pixel), normals (B, R, R, 3) of it,
    canonical_depth, albedo (B, R, R, 3), view (B, 6), light (B, 4), shading (B, R, R),
    reconstruction (B, R, R, 3), mask (B, R, R), prior_depth (B, R, R) (the step-1 ellipsoid,
    in the input's view), projected (B, N, R, R, 3) (the last stage's projected samples),
    rates {step: steps per second}, seconds.
  """
  resolution = check_gan(gan)
  check_shape("images", images, ("B", resolution, resolution, 3))
  check_dtype("images", images, "f")
  check_finite("images", images)
  check_range("images", images, 0.0, 1.0)
  images = np.asarray(images, np.float32)
  if masks is None:
    if mask_params is None:
      raise ValueError("masks: expected (B, R, R) object masks, or mask_params to predict "
                       "them, got neither")
    masks = np.asarray(predict_mask(mask_params, images))
  check_shape("masks", masks, (len(images), resolution, resolution))
  check_dtype("masks", masks, "biuf")
  check_range("masks", masks, 0.0, 1.0)
  masks = np.asarray(masks, np.float32)
  out = run_stages(gan, config, images, masks, key, workdir=workdir, devices=devices)
  state = out["state"]
  return {**out["factors"], "mask": masks, "prior_depth": state["prior"],
          "projected": state["projected"], "rates": out["rates"], "seconds": out["seconds"]}


@jax.jit
def _render(depth, albedo, view, light):
  return render_image(depth, albedo, view, light)["image"]


def relight(result: dict, light) -> np.ndarray:
  """The images (B, R, R, 3) of :func:`reconstruct`'s result under ``light`` (4,) or (B, 4)
  [ambient, diffuse, dx, dy] (as ``render.shade``), in each image's own view."""
  light = np.broadcast_to(np.asarray(light, np.float32), result["light"].shape)
  check_finite("light", light)
  return np.asarray(_render(result["canonical_depth"], result["albedo"], result["view"],
                            light))


def rotate(result: dict, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
  """The images (B, R, R, 3) of :func:`reconstruct`'s result seen from each image's view
  turned by ``yaw_deg`` about the vertical axis and ``pitch_deg`` about the horizontal one."""
  check_finite("yaw_deg", yaw_deg)
  check_finite("pitch_deg", pitch_deg)
  view = np.array(result["view"], np.float32)
  view[:, 0] += math.radians(pitch_deg)
  view[:, 1] += math.radians(yaw_deg)
  return np.asarray(_render(result["canonical_depth"], result["albedo"], view,
                            result["light"]))


def export_obj(path, result: dict, index: int, *, texture: bool = True) -> list[str]:
  """Image ``index``'s canonical surface as a Wavefront .obj (with its albedo as texture)."""
  if not 0 <= index < len(result["canonical_depth"]):
    raise ValueError(f"index: expected 0..{len(result['canonical_depth']) - 1}, got {index}")
  return save_obj(path, result["canonical_depth"][index], result["albedo"][index],
                  texture=texture)
