"""The four training stages of section 3, their losses and trainable components.

  image_ae   2D autoencoder on unlabeled images          trains image_encoder, image_decoder
  shape_ae   3D autoencoder on unlabeled shapes          trains shape_encoder, shape_decoder
  mapping    the mapping on labeled pairs, others frozen trains mapping
  finetune   end to end on labeled pairs                 trains image_encoder, mapping,
                                                         shape_decoder

Every stage minimises the RMSE of eq. 12; here an error function returns the *mean squared*
error of a (local) batch and the core's step takes the square root of its average over the
global batch (``loss_of_mean=rmse_of_mse``, see :mod:`inverse3d.train.parallel`). The mapping stage compares codes (eq. 8, ``T Y`` against the
shape code ``B``) when ``mapping_target="code"``, or decoded shapes when "shape".
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_choice
from inverse3d.mapping.framework import Framework, resize_images
from inverse3d.train.parallel import make_train_step

STAGES = ("image_ae", "shape_ae", "mapping", "finetune")
TRAINABLE = {
    "image_ae": ("image_encoder", "image_decoder"),
    "shape_ae": ("shape_encoder", "shape_decoder"),
    "mapping": ("mapping",),
    "finetune": ("image_encoder", "mapping", "shape_decoder"),
}
INPUTS = {"image_ae": ("images",), "shape_ae": ("shapes",), "mapping": ("images", "shapes"),
          "finetune": ("images", "shapes")}
MAPPING_TARGETS = ("code", "shape")


def mean_squared_error(pred, target):
  """Mean over every entry of (pred - target)^2; pred, target (N, ...) -> scalar."""
  return jnp.mean(jnp.square(pred - target))


def rmse_of_mse(mse):
  """sqrt(mse), with gradient 0 (not inf) at mse = 0: the loss of every stage from its mean
  squared error over the global batch."""
  positive = mse > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, mse, 1.0)), 0.0)


def stage_error_fn(model: Framework, stage: str, mapping_target: str = "code") -> Callable:
  """``error(params, batch) -> scalar`` mean squared error of ``stage`` on a batch.

  ``batch`` holds ``INPUTS[stage]``: "images" (n, H, W, C) and/or "shapes" (n, *shape_shape).
  """
  check_choice("stage", stage, STAGES)
  check_choice("mapping_target", mapping_target, MAPPING_TARGETS)

  def run(params, x, method):
    return model.apply({"params": params}, x, method=method)

  def error(params, batch):
    if stage == "image_ae":
      images = batch["images"]
      return mean_squared_error(run(params, images, "reconstruct_images"),
                                resize_images(images, model.recon_shape))
    if stage == "shape_ae":
      return mean_squared_error(run(params, batch["shapes"], "reconstruct_shapes"),
                                batch["shapes"])
    if stage == "mapping" and mapping_target == "code":
      codes = run(params, run(params, batch["images"], "encode_images"), "map_codes")
      return mean_squared_error(codes, run(params, batch["shapes"], "encode_shapes"))
    return mean_squared_error(run(params, batch["images"], "predict"), batch["shapes"])

  return error


def stage_step(model: Framework, stage: str, optimizer, mapping_target: str = "code",
               grad_norm: bool = True) -> Callable:
  """The core's per-device train step of ``stage``: RMSE over the global batch (eq. 12),
  ``optimizer`` on the stage's ``TRAINABLE`` components (see inverse3d.train.make_train_step)."""
  return make_train_step(stage_error_fn(model, stage, mapping_target), optimizer,
                         loss_of_mean=rmse_of_mse, grad_norm=grad_norm)


def labeled_rows(key: jax.Array, n: int, fraction: float) -> np.ndarray:
  """Sorted indices of the ``round(fraction * n)`` pairs whose labels are used (random subset)."""
  if not 0 < fraction <= 1:
    raise ValueError(f"labeled_fraction: expected a number in (0, 1], got {fraction!r}")
  order = np.asarray(jax.random.permutation(key, n))
  return np.sort(order[:int(round(fraction * n))])
