"""The object mask: a small segmentation network trained on the project's labelled renders.

GAN2Shape parses its images with an off-the-shelf network (BiSeNet for faces); none can be
downloaded here, so :class:`MaskNet`, a small U-Net, is trained on renders whose masks are
known (``data.procedural_face_images``)::

    params = train_mask_net(images, masks, steps=300, batch_size=16, key=key)
    mask = predict_mask(params, images)              # (B, H, W) in [0, 1]

:class:`MaskNet`: per level, two 3x3 convolutions with GroupNorm and ReLU (widths ``widths``,
finest first), average pooling between levels; back up, nearest upsampling, the skip
connection of the same level and two convolutions; a 1x1 convolution gives the logit.
Trained with the binary cross-entropy on the core's step (``inverse3d.train``), Adam, batches
in epoch order (``train.input.GlobalOrder``). Images NHWC in [0, 1].
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from inverse3d.checks import (check_dtype, check_finite, check_min_size, check_number,
                              check_positive_int, check_range, check_shape)
from inverse3d.train.fit import fit_net

MASK_WIDTHS = (16, 32, 64)


class Block(nn.Module):
  """Two 3x3 convolutions, each with GroupNorm (4 channels per group) and ReLU."""
  features: int

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      x = nn.Conv(self.features, (3, 3), padding="SAME")(x)
      x = nn.relu(nn.GroupNorm(num_groups=None, group_size=math.gcd(4, self.features))(x))
    return x


class MaskNet(nn.Module):
  """Images (B, H, W, 3) in [0, 1] -> foreground logits (B, H, W); H, W multiples of
  2 ** (len(widths) - 1) (module docstring)."""
  widths: tuple = MASK_WIDTHS

  @nn.compact
  def __call__(self, images):
    x = 2.0 * images - 1.0
    skips = []
    for i, width in enumerate(self.widths):
      if i:
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
      x = Block(width, name=f"down_{i}")(x)
      skips.append(x)
    for i in reversed(range(len(self.widths) - 1)):
      x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
      x = Block(self.widths[i], name=f"up_{i}")(jnp.concatenate([x, skips[i]], axis=-1))
    return nn.Conv(1, (1, 1), name="head")(x)[..., 0]


def _check_images(images, levels: int) -> dict:
  factor = 2 ** (levels - 1)
  bind = check_shape("images", images, ("N", "H", "W", 3))
  if bind["H"] % factor or bind["W"] % factor or min(bind["H"], bind["W"]) < factor:
    raise ValueError(f"images: expected H, W multiples of {factor} (the net's {levels} "
                     f"levels), got shape {tuple(np.shape(images))}")
  check_min_size("images", images, 1)
  check_dtype("images", images, "f")
  check_finite("images", images)
  check_range("images", images, 0.0, 1.0)
  return bind


def widths_of(params) -> tuple:
  """The MaskNet widths whose params ``params`` are, read from their shapes."""
  levels = len([k for k in params if k.startswith("down_")])
  return tuple(int(params[f"down_{i}"]["Conv_0"]["kernel"].shape[-1]) for i in range(levels))


def mask_loss(net: MaskNet):
  """``loss_fn(params, batch) -> (loss, aux)`` for ``make_train_step``: the mean binary
  cross-entropy of the logits of batch["images"] against batch["masks"] {0, 1}."""

  def loss_fn(params, batch):
    logits = net.apply({"params": params["net"]}, batch["images"])
    loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, batch["masks"]))
    accuracy = jnp.mean((logits > 0) == (batch["masks"] > 0.5))
    return loss, {"accuracy": accuracy}

  return loss_fn


def train_mask_net(images, masks, steps: int, batch_size: int, key, *, lr: float = 3e-3,
                   widths: tuple = MASK_WIDTHS, devices=None) -> dict:
  """Fits a :class:`MaskNet` to labelled images.

  Args:
    images: (N, H, W, 3) float in [0, 1]; masks: (N, H, W) foreground, bool or {0, 1}.
    steps: Adam steps; batch_size: the global batch, <= N and a multiple of the devices.
    key: draws the init and the batches' order. lr: Adam's learning rate.
    widths: the net's widths per level, finest first. devices: default every device.
  Returns:
    the net's params (host arrays), for :func:`predict_mask`.
  Raises:
    FloatingPointError if the final loss is not finite.
  """
  widths = tuple(check_positive_int("widths", w) for w in widths)
  check_min_size("widths", widths, 1)
  bind = _check_images(images, len(widths))
  check_shape("masks", masks, (bind["N"], bind["H"], bind["W"]))
  check_dtype("masks", masks, "biuf")
  check_range("masks", masks, 0.0, 1.0)
  steps = check_positive_int("steps", steps)
  batch_size = check_positive_int("batch_size", batch_size, maximum=bind["N"])
  lr = check_number("lr", lr, positive=True)
  net = MaskNet(widths)
  arrays = {"images": np.asarray(images, np.float32), "masks": np.asarray(masks, np.float32)}
  return fit_net(net, mask_loss(net), arrays, steps, batch_size, key, lr, has_aux=True,
                 devices=devices, name="train_mask_net")


@jax.jit
def _predict(params, images):
  return jax.nn.sigmoid(MaskNet(widths_of(params)).apply({"params": params}, images))


def predict_mask(params, images):
  """Foreground probabilities (B, H, W) in [0, 1] of images (B, H, W, 3) in [0, 1] by the
  trained net (threshold at 0.5 for a binary mask)."""
  _check_images(images, len(widths_of(params)))
  return _predict(params, jnp.asarray(images, jnp.float32))
