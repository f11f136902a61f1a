"""How well held-out images project onto a generator: GAN2Shape's two inversions against the
mean-w image.

    out = inversion_scores(generator, d_params, encoder, images, steps=200, lr=0.05)
    out["scores"]["invert_w"]["margin"]     # 1 - L1(projection) / L1(mean-w image)

Methods: ``mean_w`` (the generator's mean image, the reference), ``invert_w`` and
``invert_w+`` (:func:`inverse3d.gan.invert`, one latent per image optimised by Adam),
``encoder`` (:func:`inverse3d.gan.encode_latent`, one forward pass). L1 is the mean absolute
pixel difference in intensity units (images in [0, 1]), per image, constant noise.
"""
from __future__ import annotations

import numpy as np

from inverse3d.gan.generator import generate, spec_of
from inverse3d.gan.inversion import check_images, encode_latent, invert

METHODS = ("mean_w", "invert_w", "invert_w+", "encoder")


def image_l1(reconstructions, images) -> np.ndarray:
  """Per-image mean |a - b| of (N, R, R, 3) images in [-1, 1], in [0, 1] intensity units."""
  diff = np.abs(np.asarray(reconstructions, np.float64) - np.asarray(images, np.float64))
  return diff.reshape(len(diff), -1).mean(1) / 2.0


def reconstructions(generator: dict, d_params, encoder: dict, images, *, steps: int,
                    lr: float, feature_weight: float = 1.0, batch: int = 32) -> dict:
  """{method: (N, R, R, 3) reconstructions} of images (N, R, R, 3) in [-1, 1], ``batch`` images
  at a time (``invert``'s optimisation is per image, so batching does not change results)."""
  images = check_images(images, spec_of(generator).resolution)
  mean_image = np.asarray(generate(generator, np.asarray(generator["w_avg"])[None],
                                   input_is_w=True))
  out = {"mean_w": np.broadcast_to(mean_image, images.shape)}
  parts = {m: [] for m in METHODS[1:]}
  for start in range(0, len(images), batch):
    chunk = images[start:start + batch]
    for space in ("w", "w+"):
      parts[f"invert_{space}"].append(np.asarray(invert(
          generator, d_params, chunk, steps=steps, lr=lr, space=space,
          feature_weight=feature_weight)["images"]))
    w = encode_latent(generator, encoder, chunk)
    parts["encoder"].append(np.asarray(generate(generator, w, input_is_w=True)))
  out.update({m: np.concatenate(p) for m, p in parts.items()})
  return out


def inversion_scores(generator: dict, d_params, encoder: dict, images, **options) -> dict:
  """{"scores": {method: {"l1", "l1_std", "margin"}}, "reconstructions": {method: images}};
  ``margin`` = 1 - mean L1 / mean L1 of the mean-w image (positive: better than it).
  ``options``: :func:`reconstructions`'s."""
  recon = reconstructions(generator, d_params, encoder, images, **options)
  errors = {m: image_l1(recon[m], images) for m in METHODS}
  reference = errors["mean_w"].mean()
  scores = {m: {"l1": float(e.mean()), "l1_std": float(e.std()),
                "margin": float(1.0 - e.mean() / reference)} for m, e in errors.items()}
  return {"scores": scores, "reconstructions": recon}
