"""The four training stages of section 3, their losses, data and batch order.

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


class BatchOrder:
  """Rows of the global batch at each step: epochs of ``n // batch_size`` batches (the last
  partial batch is dropped), reshuffled each epoch with ``fold_in(key, epoch)``. A pure
  function of the step, so a resumed run sees the same batches."""

  def __init__(self, key: jax.Array, n: int, batch_size: int, what: str = "examples"):
    if batch_size > n:
      raise ValueError(f"batch_size: expected at most the {n} {what}, got {batch_size}")
    self.key, self.n, self.batch_size = key, n, batch_size
    self.per_epoch = n // batch_size
    self._epoch, self._order = -1, None

  def rows(self, step: int) -> np.ndarray:
    """(batch_size,) indices of the examples in the batch of ``step`` (0-based in the stage)."""
    epoch, i = divmod(step, self.per_epoch)
    if epoch != self._epoch:
      self._epoch = epoch
      self._order = np.asarray(jax.random.permutation(jax.random.fold_in(self.key, epoch), self.n))
    return self._order[i * self.batch_size:(i + 1) * self.batch_size]
