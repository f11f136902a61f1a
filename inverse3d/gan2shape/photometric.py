"""The photo-geometric image model and GAN2Shape's reconstruction losses.

Rendering (Unsup3d's forward pass, on ``inverse3d.render``)::

    normals           = depth_to_normals(depth)                      canonical frame
    diffuse_shading   = max(0, normals . light_direction(dx, dy))
    shading           = ambient + diffuse * diffuse_shading
    canonical_image   = albedo * shading
    image, depth', m  = render_view(depth, canonical_image, view)    into the view

Losses (GAN2Shape's step 1 and 3): the masked L1 of the rendered image against the target,
a perceptual term on features of both (no VGG here: ``features`` is any callable, e.g. the
discriminator's residual blocks, ``inverse3d.gan.inversion.discriminator_features``), and the
second-order smoothness of the depth and of the diffuse shading::

    loss = masked_l1 + perceptual_weight * perceptual + smooth_weight * (smooth(depth)
           + smooth(diffuse_shading))                         weights 0.5 and 0.01 published
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from inverse3d.render import FOV_DEG, depth_to_normals, render_view, shade

PERCEPTUAL_WEIGHT = 0.5
SMOOTH_WEIGHT = 0.01
_TINY = 1e-8


def render_image(depth, albedo, view, light, fov_deg=FOV_DEG) -> dict:
  """Renders canonical depth and albedo under a light, seen from a view (module docstring).

  Args:
    depth: (B, H, W) canonical depth (in render.DEPTH_RANGE). albedo: (B, H, W, 3) in [0, 1].
    view: (B, 6) as render.render_view. light: (B, 4) [ambient, diffuse, dx, dy] as
      render.shade.
  Returns dict:
    image: (B, H, W, 3) the rendered image in the view, clipped to [0, 1] (GAN2Shape clamps),
      0 where the surface does not cover the pixel.
    depth: (B, H, W) the depth in the view. mask: (B, H, W) float {0, 1}, the pixels the
      surface covers in the view (the reprojected mask).
    canonical_image: (B, H, W, 3) albedo * shading. shading, diffuse_shading: (B, H, W).
    normals: (B, H, W, 3) canonical unit normals.
  """
  normals = depth_to_normals(depth, fov_deg)
  ones = jnp.ones(albedo.shape[:3] + (1,), albedo.dtype)
  unit = jnp.concatenate([jnp.zeros_like(light[:, :1]), jnp.ones_like(light[:, :1]),
                          light[:, 2:4]], axis=1)
  diffuse_shading = shade(normals, ones, unit)[..., 0]
  shading = shade(normals, ones, light)[..., 0]
  canonical = albedo * shading[..., None]
  image, new_depth, mask = render_view(depth, canonical, view, fov_deg)
  return {"image": jnp.clip(image, 0.0, 1.0), "depth": new_depth, "mask": mask,
          "canonical_image": canonical, "shading": shading,
          "diffuse_shading": diffuse_shading, "normals": normals}


def masked_l1(images, targets, mask):
  """Scalar: mean |images - targets| over channels and the batch's mask pixels.

  images, targets: (B, H, W, C); mask: (B, H, W) weights in [0, 1] (GAN2Shape's
  photometric_loss: sum of the masked error over the sum of the mask)."""
  error = jnp.mean(jnp.abs(images - targets), axis=-1)
  return jnp.sum(error * mask) / jnp.maximum(jnp.sum(mask), _TINY)


def smoothness(maps):
  """Scalar second-order smoothness of maps (B, H, W): mean |d2/dx2| + 2 mean |d2/dxdy| +
  mean |d2/dy2| of finite differences (GAN2Shape's smooth_loss, whose two mixed terms are
  the same difference)."""
  dx = maps[:, :, 1:] - maps[:, :, :-1]
  dy = maps[:, 1:] - maps[:, :-1]
  dxx = dx[:, :, 1:] - dx[:, :, :-1]
  dyy = dy[:, 1:] - dy[:, :-1]
  dxy = dx[:, 1:] - dx[:, :-1]
  return jnp.mean(jnp.abs(dxx)) + 2.0 * jnp.mean(jnp.abs(dxy)) + jnp.mean(jnp.abs(dyy))


def perceptual_loss(features: Callable, images, targets, mask=None):
  """Scalar: the mean over feature maps of mean |features(images) - features(targets)|.

  ``features(x)`` maps images (N, H, W, C) to a list of arrays (N, ...), computed per image
  (no coupling between the batch's samples): it is called once on images and targets
  together, the targets' features without gradient. ``mask`` (B, H, W) multiplies both
  images first, as GAN2Shape masks its perceptual inputs; None uses the whole image."""
  if mask is not None:
    images, targets = images * mask[..., None], targets * mask[..., None]
  both = features(jnp.concatenate([images, jax.lax.stop_gradient(targets)]))
  n = images.shape[0]
  terms = [jnp.mean(jnp.abs(f[:n] - jax.lax.stop_gradient(f[n:]))) for f in both]
  if not terms:
    raise ValueError("features: expected a callable returning one or more feature maps, "
                     "got an empty list")
  return sum(terms) / len(terms)


def reconstruction_loss(rendered: dict, targets, depth, features: Callable | None = None, *,
                        perceptual_weight: float = PERCEPTUAL_WEIGHT,
                        smooth_weight: float = SMOOTH_WEIGHT) -> tuple:
  """GAN2Shape's loss of a rendering (module docstring) -> (scalar, {"l1", "perceptual",
  "smooth"}).

  rendered: :func:`render_image`'s dict; targets (B, H, W, 3) in [0, 1]; depth (B, H, W) the
  canonical depth rendered. The L1 and perceptual terms use the reprojected mask; ``features``
  None drops the perceptual term, ``smooth_weight`` 0 the smoothness (step 3's projected
  samples carry none).
  """
  mask = jax.lax.stop_gradient(rendered["mask"])
  l1 = masked_l1(rendered["image"], targets, mask)
  perceptual = (perceptual_loss(features, rendered["image"], targets, mask)
                if features is not None else jnp.zeros(()))
  smooth = smoothness(depth) + smoothness(rendered["diffuse_shading"])
  loss = l1 + perceptual_weight * perceptual + smooth_weight * smooth
  return loss, {"l1": l1, "perceptual": perceptual, "smooth": smooth}
