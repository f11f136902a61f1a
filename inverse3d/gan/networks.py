"""StyleGAN2's generator (mapping and synthesis networks) and residual discriminator.

The generator is two flax modules whose parameters, with the constant noise inputs and the mean
latent, form one plain dict (a "generator", what ``inverse3d.gan`` functions take)::

    {"mapping": ..., "synthesis": ..., "noise": (n_noise arrays (H, W)), "w_avg": (D,)}

The architecture is read back from the shapes (:func:`spec_of`), so a saved or converted
generator needs no separate description. Layer names follow the published PyTorch layout
(rosinality's ``style.N``, ``conv1``, ``to_rgb1``, ``convs.N``, ``to_rgbs.N``).
"""
from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from inverse3d.gan.layers import (ConvLayer, EqualLinear, ResBlock, StyledConv, ToRGB,
                                  minibatch_stddev)

MIN_RESOLUTION, MAX_RESOLUTION = 8, 1024


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
  """Feature maps at one resolution: ``min(channel_base // resolution, channel_max)``
  (rosinality's channel multiplier 2 is channel_base 32768, channel_max 512)."""
  return max(1, min(channel_base // resolution, channel_max))


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
  """resolution: output side, a power of two. channels: feature maps at 4, 8, ..., resolution.
  style_dim: z and w size. mapping_layers: dense layers of the mapping network.
  lr_mul: the mapping network's learning-rate multiplier."""
  resolution: int
  channels: tuple
  style_dim: int = 512
  mapping_layers: int = 8
  lr_mul: float = 0.01

  def __post_init__(self):
    log = math.log2(self.resolution) if self.resolution > 0 else 0.5
    if (log != int(log) or not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION):
      raise ValueError(f"resolution: expected a power of two in [{MIN_RESOLUTION}, "
                       f"{MAX_RESOLUTION}], got {self.resolution}")
    if len(self.channels) != int(log) - 1 or min(self.channels) < 1:
      raise ValueError(f"channels: expected {int(log) - 1} positive widths (4 .. "
                       f"{self.resolution}), got {self.channels}")
    if self.style_dim < 1 or self.mapping_layers < 1:
      raise ValueError(f"style_dim, mapping_layers: expected >= 1, got {self.style_dim}, "
                       f"{self.mapping_layers}")

  @property
  def resolutions(self) -> tuple:
    return tuple(2 ** i for i in range(2, int(math.log2(self.resolution)) + 1))

  @property
  def n_latent(self) -> int:
    """Per-layer styles (w+ rows): two per resolution from 8 up, plus conv1 and to_rgb1."""
    return 2 * len(self.resolutions)

  @property
  def noise_shapes(self) -> tuple:
    """(H, W) of each noise input: conv1 at 4x4, then two per resolution."""
    return ((4, 4),) + tuple((r, r) for r in self.resolutions[1:] for _ in range(2))


def generator_spec(resolution: int, channel_base: int, channel_max: int, style_dim: int = 512,
                   mapping_layers: int = 8, lr_mul: float = 0.01) -> GeneratorSpec:
  """A :class:`GeneratorSpec` with widths from ``channels_at``."""
  res = [2 ** i for i in range(2, int(math.log2(max(resolution, 4))) + 1)]
  return GeneratorSpec(resolution, tuple(channels_at(r, channel_base, channel_max) for r in res),
                       style_dim, mapping_layers, lr_mul)


def pixel_norm(z):
  """z / rms(z) over the last axis."""
  return z * jax.lax.rsqrt(jnp.mean(jnp.square(z), -1, keepdims=True) + 1e-8)


class Mapping(nn.Module):
  """z (B, D) -> w (B, D): pixel norm, then ``layers`` dense leaky-ReLU layers ``style_1`` ...

  ``start``/``stop`` run layers [start, stop) only (pixel norm when start is 0), so a latent
  offset can be added between layers: ``h = m(z, stop=k); w = m(h + offset, start=k)``.
  """
  style_dim: int
  layers: int = 8
  lr_mul: float = 0.01

  @nn.compact
  def __call__(self, z, start: int = 0, stop: int | None = None):
    stop = self.layers if stop is None else stop
    dense = [EqualLinear(self.style_dim, activation=True, lr_mul=self.lr_mul,
                         name=f"style_{i + 1}") for i in range(self.layers)]
    h = pixel_norm(z) if start == 0 else z
    for layer in dense[start:stop]:
      h = layer(h)
    return h


class Synthesis(nn.Module):
  """Styles ws (B, n_latent, D) and noise inputs -> images (B, R, R, 3), about [-1, 1].

  noise: a sequence of ``spec.noise_shapes`` arrays broadcastable to (B, H, W, 1), or None
  for no noise.
  """
  spec: GeneratorSpec

  @nn.compact
  def __call__(self, ws, noise=None):
    spec = self.spec
    noise = noise if noise is not None else [None] * len(spec.noise_shapes)
    const = self.param("input", nn.initializers.normal(1.0), (4, 4, spec.channels[0]))
    x = jnp.broadcast_to(const, (ws.shape[0], *const.shape)).astype(ws.dtype)
    x = StyledConv(spec.channels[0], name="conv1")(x, ws[:, 0], noise[0])
    skip = ToRGB(name="to_rgb1")(x, ws[:, 1])
    for b, width in enumerate(spec.channels[1:]):
      x = StyledConv(width, upsample=True, name=f"convs_{2 * b}")(x, ws[:, 1 + 2 * b],
                                                                   noise[1 + 2 * b])
      x = StyledConv(width, name=f"convs_{2 * b + 1}")(x, ws[:, 2 + 2 * b], noise[2 + 2 * b])
      skip = ToRGB(name=f"to_rgbs_{b}")(x, ws[:, 3 + 2 * b], skip)
    return skip


class Discriminator(nn.Module):
  """Residual discriminator: images (B, R, R, 3) -> logits (B,).

  From-RGB 1x1 convolution, one :class:`ResBlock` per resolution down to 4x4, minibatch
  standard deviation, a 3x3 convolution and two dense layers. ``channels``: widths at 4, 8,
  ..., R (as the generator's). With ``features=True`` also returns the residual blocks'
  outputs, highest resolution first (GAN2Shape's inversion loss uses the first four).
  """
  channels: tuple
  stddev_group: int = 4

  @nn.compact
  def __call__(self, images, features: bool = False):
    widths = self.channels[::-1]  # R, R/2, ..., 4
    x = ConvLayer(widths[0], 1, name="convs_0")(images)
    blocks = []
    for i, width in enumerate(widths[1:]):
      x = ResBlock(width, name=f"convs_{i + 1}")(x)
      blocks.append(x)
    x = minibatch_stddev(x, self.stddev_group)
    x = ConvLayer(widths[-1], 3, name="final_conv")(x)
    x = x.reshape(x.shape[0], -1)
    x = EqualLinear(widths[-1], activation=True, name="final_linear_0")(x)
    logits = EqualLinear(1, name="final_linear_1")(x)[:, 0]
    return (logits, blocks) if features else logits
