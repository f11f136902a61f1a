"""The representation-mapping framework (sections 3-4): two autoencoders joined by a mapping.

    image x --image_encoder--> y (k) --mapping--> b (k') --shape_decoder--> shape z
    image x --image_encoder--> y --image_decoder--> x'     (2D autoencoder, unlabeled images)
    shape z --shape_encoder--> b --shape_decoder--> z'     (3D autoencoder, unlabeled shapes)

Params are ``{"image_encoder", "image_decoder", "mapping", "shape_encoder", "shape_decoder"}``,
so a training stage can select the components it trains and freeze the rest.
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from inverse3d.checks import check_choice, check_shape, check_tree_shapes
from inverse3d.models.dense import pca_decoder_params, pca_encoder_params

COMPONENTS = ("image_encoder", "image_decoder", "mapping", "shape_encoder", "shape_decoder")


class Framework(nn.Module):
  """Encoder -> mapping -> decoder, with both autoencoders. Use through init/apply.

  Attributes:
    image_encoder: (N, *image_shape) -> (N, k). image_decoder: (N, k) -> (N, *recon_shape).
    mapping: (N, k) -> (N, k'). shape_encoder: (N, *shape_shape) -> (N, k').
    shape_decoder: (N, k') -> (N, *shape_shape).
    image_shape: (H, W, C) of input images. shape_shape: (V, 3) points or (30, 30, 30) voxels.
    recon_shape: (h, w, C) the 2D autoencoder reconstructs; smaller than ``image_shape`` for
      large inputs (AlexNet's 227x227), in which case the target is the resized image.
  """
  image_encoder: nn.Module
  image_decoder: nn.Module
  mapping: nn.Module
  shape_encoder: nn.Module
  shape_decoder: nn.Module
  image_shape: Sequence[int]
  shape_shape: Sequence[int]
  recon_shape: Sequence[int]

  def __call__(self, images, shapes):
    """Runs every component (used by init): returns (image recon, shape recon, prediction)."""
    return self.reconstruct_images(images), self.reconstruct_shapes(shapes), self.predict(images)

  def encode_images(self, images):
    """(N, H, W, C) in [0, 1] -> 2D code y (N, k)."""
    check_shape("images", images, ("N", *self.image_shape))
    return self.image_encoder(images)

  def reconstruct_images(self, images):
    """(N, H, W, C) -> 2D autoencoder output (N, *recon_shape)."""
    return self.image_decoder(self.encode_images(images))

  def encode_shapes(self, shapes):
    """(N, *shape_shape) -> 3D code b (N, k')."""
    check_shape("shapes", shapes, ("N", *self.shape_shape))
    return self.shape_encoder(shapes)

  def reconstruct_shapes(self, shapes):
    """(N, *shape_shape) -> 3D autoencoder output (N, *shape_shape)."""
    return self.shape_decoder(self.encode_shapes(shapes))

  def map_codes(self, codes):
    """2D code y (N, k) -> 3D code b (N, k')."""
    return self.mapping(codes)

  def decode_shapes(self, codes):
    """3D code b (N, k') -> shapes (N, *shape_shape)."""
    return self.shape_decoder(codes)

  def predict(self, images):
    """The inverse-rendering path: images (N, H, W, C) -> shapes (N, *shape_shape)."""
    return self.shape_decoder(self.mapping(self.encode_images(images)))


@functools.partial(jax.jit, static_argnums=0)
def init_params(model: Framework, key: jax.Array) -> dict:
  """Initial params of every component from one ``jax.random`` key (shapes from the model).

  Jitted with the model static, so equal models share one compilation.
  """
  images = jnp.zeros((1, *model.image_shape), jnp.float32)
  shapes = jnp.zeros((1, *model.shape_shape), jnp.float32)
  return model.init(key, images, shapes)["params"]


def resize_images(images, shape: Sequence[int]):
  """(N, H, W, C) -> (N, *shape) by bilinear resizing (antialiased); identity if equal."""
  if tuple(images.shape[1:]) == tuple(shape):
    return images
  return jax.image.resize(images, (images.shape[0], *shape), "linear")


def init_from_pca(params: dict, component: str, mean, components) -> dict:
  """Returns ``params`` with one hidden-less linear component set from a PCA basis.

  Args:
    component: an encoder (``y = (x - mean) @ components.T``) or decoder
      (``z = mean + y @ components``) name from ``COMPONENTS``, built as "linear" without
      hidden layers.
    mean: (d,) or the data's per-sample shape; components: (k, d) orthonormal rows, e.g. the
      ``mean``/``components`` of a PCA fit. d and k must match the component's sizes.
  """
  check_choice("component", component, [c for c in COMPONENTS if c != "mapping"])
  make = pca_encoder_params if component.endswith("encoder") else pca_decoder_params
  new = make(mean, components)
  check_tree_shapes(f"PCA params for {component}", new, params[component])
  return {**params, component: jax.tree.map(jnp.asarray, new)}
