"""The supervised bound of the evaluation: a depth network trained on labelled depth.

The depth net of the photo-geometric model (``networks.EDDeconv(1)`` through
``networks.depth_output``, so its depth lies in ``render.DEPTH_RANGE`` as GAN2Shape's does) fitted
by the L1 distance to the ground-truth depth of labelled renders (every pixel, the background's
far value included), Adam, batches in epoch order::

    params = train_depth_net(images, depth, steps=1500, batch_size=16, key=key)
    pred = predict_depth(params, test_images)        # (B, R, R)
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_number, check_positive_int, check_shape
from inverse3d.gan2shape.networks import EDDeconv, depth_output
from inverse3d.train.fit import fit_net


def depth_loss(net: EDDeconv):
  """``loss_fn(params, batch) -> loss``: mean |depth_output(net(images)) - depth|."""

  def loss_fn(params, batch):
    depth = depth_output(net.apply({"params": params["net"]}, batch["images"]))
    return jnp.mean(jnp.abs(depth - batch["depth"]))

  return loss_fn


def train_depth_net(images, depth, steps: int, batch_size: int, key, *, lr: float = 1e-3,
                    nf: int = 32, zdim: int = 128, devices=None) -> dict:
  """Fits the depth net to images (N, R, R, 3) in [0, 1] and their depth (N, R, R).

  Returns {"net": params, "nf", "zdim"} (host arrays), for :func:`predict_depth`; a
  FloatingPointError if the final loss is not finite.
  """
  bind = check_shape("images", images, ("N", "R", "R", 3))
  check_shape("depth", depth, (bind["N"], bind["R"], bind["R"]))
  steps = check_positive_int("steps", steps)
  batch_size = check_positive_int("batch_size", batch_size, maximum=bind["N"])
  lr = check_number("lr", lr, positive=True)
  net = EDDeconv(1, nf, zdim)
  arrays = {"images": np.asarray(images, np.float32), "depth": np.asarray(depth, np.float32)}
  params = fit_net(net, depth_loss(net), arrays, steps, batch_size, key, lr, devices=devices,
                   name="train_depth_net")
  return {"net": params, "nf": np.int32(nf), "zdim": np.int32(zdim)}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _predict(nf, zdim, params, images):
  return depth_output(EDDeconv(1, nf, zdim).apply({"params": params}, images))


def predict_depth(params: dict, images) -> np.ndarray:
  """Depth (B, R, R) in render.DEPTH_RANGE of images (B, R, R, 3) in [0, 1] by
  :func:`train_depth_net`'s params."""
  check_shape("images", images, ("B", "R", "R", 3))
  return np.asarray(_predict(int(params["nf"]), int(params["zdim"]), params["net"],
                             jnp.asarray(images, jnp.float32)))
