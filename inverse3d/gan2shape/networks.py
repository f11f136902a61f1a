"""The photo-geometric networks of Unsup3d (as GAN2Shape uses them) and the maps to the factors.

Four networks read the image I (B, R, R, 3) in [0, 1], R a power of two >= 8::

    depth  = depth_output(EDDeconv(1)(I))     (B, R, R) in render.DEPTH_RANGE
    albedo = albedo_output(EDDeconv(3)(I))    (B, R, R, 3) in [0, 1]
    view   = view_output(Encoder(6)(I))       (B, 6) as render.render_view takes it
    light  = light_output(Encoder(4)(I))      (B, 4) as render.shade takes it

:class:`EDDeconv`, the encoder-decoder: 4x4 stride-2 convolutions halve the image down to 4x4
(widths nf, 2 nf, ...), a 4x4 convolution makes a 1x1 code (zdim), a 4x4 transposed
convolution brings back 4x4, stride-2 transposed convolutions (each followed by a 3x3
convolution) double it up to R / 2 (widths halving down to nf), a nearest-neighbour upsampling
reaches R, and 3x3, 5x5 and 5x5 convolutions give the output. GroupNorm (``group_size``
channels per group) follows every layer but those at the code and at the widest level;
LeakyReLU(0.2) going down, ReLU going up. :class:`Encoder`: the same 4x4 stride-2 convolutions
(ReLU, no normalisation) to 4x4, a 4x4 convolution to 1x1 and a 1x1 one to the outputs. At
R = 64 these are Unsup3d's layers; other R add or drop halvings. GAN2Shape's widths: nf =
max(4096 // R, 16) (64 at 64x64) for all four nets, zdim 256, 4 channels per group.
Convolutions have no bias (as published). The nets return raw outputs; the maps below are
GAN2Shape's, with its names in the docstrings.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from inverse3d.render.camera import DEPTH_RANGE

ROTATION_RANGE_DEG = 60.0
"""Rotations are tanh * this (GAN2Shape's xyz_rotation_range), in degrees."""
XY_TRANSLATION_RANGE = 0.1
"""x, y translations are tanh * this (xy_translation_range), depth units."""
Z_TRANSLATION_RANGE = 0.0
"""z translation is tanh * this (z_translation_range: 0 for faces)."""
GROUP_SIZE = 4
"""Channels per GroupNorm group (Unsup3d's 16 groups of nf = 64)."""


def check_resolution(images) -> int:
  """R of images (B, R, R, C): a power of two >= 8 (the nets halve it down to 4x4)."""
  shape = tuple(images.shape)
  r = shape[1] if len(shape) == 4 else 0
  if len(shape) != 4 or shape[2] != r or r < 8 or r & (r - 1):
    raise ValueError(f"images: expected (B, R, R, C) with R a power of two >= 8, got {shape}")
  return r


def _check_widths(nf: int, group_size: int) -> None:
  if nf < 1 or group_size < 1 or nf % group_size:
    raise ValueError(f"nf: expected a positive multiple of group_size {group_size}, got {nf}")


def _down(x, features: int):
  """4x4 convolution, stride 2, padding 1: halves the side (Unsup3d's down layer)."""
  return nn.Conv(features, (4, 4), strides=2, padding=((1, 1), (1, 1)), use_bias=False)(x)


def _conv(x, features: int, size: int):
  return nn.Conv(features, (size, size), padding="SAME", use_bias=False)(x)


class EDDeconv(nn.Module):
  """Image (B, R, R, 3) in [0, 1] -> raw map (B, R, R, out) (module docstring)."""
  out: int
  nf: int = 64
  zdim: int = 256
  group_size: int = GROUP_SIZE

  @nn.compact
  def __call__(self, images):
    levels = int(math.log2(check_resolution(images))) - 2   # halvings down to 4x4
    _check_widths(self.nf, self.group_size)
    norm = lambda y: nn.GroupNorm(num_groups=None, group_size=self.group_size)(y)
    x = 2.0 * images - 1.0
    for i in range(levels):
      x = _down(x, self.nf * 2 ** i)
      x = nn.leaky_relu(norm(x) if i < levels - 1 else x, 0.2)
    x = nn.relu(nn.Conv(self.zdim, (4, 4), padding="VALID", use_bias=False)(x))       # 1x1
    top = self.nf * 2 ** (levels - 1)
    x = nn.relu(nn.ConvTranspose(top, (4, 4), padding="VALID", use_bias=False)(x))    # 4x4
    x = nn.relu(_conv(x, top, 3))
    for i in reversed(range(levels - 1)):                                              # to R/2
      x = nn.ConvTranspose(self.nf * 2 ** i, (4, 4), strides=(2, 2), padding="SAME",
                           use_bias=False)(x)
      x = nn.relu(norm(x))
      x = nn.relu(norm(_conv(x, self.nf * 2 ** i, 3)))
    x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)                                # to R
    x = nn.relu(norm(_conv(x, self.nf, 3)))
    x = nn.relu(norm(_conv(x, self.nf, 5)))
    return _conv(x, self.out, 5)


class Encoder(nn.Module):
  """Image (B, R, R, 3) in [0, 1] -> raw vector (B, out) (module docstring)."""
  out: int
  nf: int = 64

  @nn.compact
  def __call__(self, images):
    levels = int(math.log2(check_resolution(images))) - 2
    x = 2.0 * images - 1.0
    for i in range(levels):
      x = nn.relu(_down(x, self.nf * 2 ** i))
    x = nn.relu(nn.Conv(self.nf * 2 ** (levels - 1), (4, 4), padding="VALID",
                        use_bias=False)(x))
    return nn.Conv(self.out, (1, 1), use_bias=False)(x).reshape(x.shape[0], self.out)


def photo_geometric_nets(nf: int = 64, zdim: int = 256, encoder_nf: int = 64,
                         group_size: int = GROUP_SIZE) -> dict:
  """The four nets {"depth", "albedo", "view", "light"} (widths: module docstring)."""
  return {"depth": EDDeconv(1, nf, zdim, group_size), "albedo": EDDeconv(3, nf, zdim, group_size),
          "view": Encoder(6, encoder_nf), "light": Encoder(4, encoder_nf)}


def init_nets(nets: dict, key, resolution: int) -> dict:
  """Params {name: params} of ``nets`` for R x R images, in one compiled call (a key of
  ``jax.random.key(seed, impl="rbg")`` compiles several times faster on CPU than threefry)."""
  names = sorted(nets)
  images = jnp.zeros((1, resolution, resolution, 3), jnp.float32)

  def init(key):
    keys = jax.random.split(key, len(names))
    return {name: nets[name].init(k, images)["params"] for name, k in zip(names, keys)}

  return jax.jit(init)(key)


def depth_output(raw, depth_range=DEPTH_RANGE):
  """Raw depth (B, H, W, 1) -> depth (B, H, W): the raw map less its mean over the image,
  through tanh, rescaled from [-1, 1] to ``depth_range`` (1 + 0.1 tanh(.) for [0.9, 1.1]).
  GAN2Shape's canon_depth; the mean-centring leaves the depth's offset to the rescaling."""
  raw = raw[..., 0]
  centred = raw - jnp.mean(raw, axis=(1, 2), keepdims=True)
  low, high = depth_range
  return low + (high - low) * (jnp.tanh(centred) + 1.0) / 2.0


def albedo_output(raw):
  """Raw albedo (B, H, W, 3) -> albedo in [0, 1]: (tanh + 1) / 2 (GAN2Shape's albedo/2+0.5,
  its albedo net ending in tanh), the reflectance ``render.shade`` takes."""
  return (jnp.tanh(raw) + 1.0) / 2.0


def view_output(raw, rotation_deg: float = ROTATION_RANGE_DEG,
                xy_translation: float = XY_TRANSLATION_RANGE,
                z_translation: float = Z_TRANSLATION_RANGE):
  """Raw view (B, 6) -> [rx, ry, rz in radians, tx, ty, tz]: tanh times the ranges
  (GAN2Shape's view_trans), the view ``render.render_view`` takes."""
  t = jnp.tanh(raw)
  return jnp.concatenate([t[:, :3] * math.radians(rotation_deg), t[:, 3:5] * xy_translation,
                          t[:, 5:] * z_translation], axis=1)


def light_output(raw):
  """Raw light (B, 4) -> [ambient, diffuse, dx, dy]: ambient and diffuse (tanh + 1) / 2 in
  [0, 1], dx, dy tanh in [-1, 1]; ``render.shade`` lights along
  ``render.light_direction((dx, dy))`` = normalise(dx, dy, 1)."""
  t = jnp.tanh(raw)
  return jnp.concatenate([(t[:, :2] + 1.0) / 2.0, t[:, 2:]], axis=1)


def predict_factors(nets: dict, params: dict, images, view_ranges: dict | None = None) -> dict:
  """Images (B, R, R, 3) in [0, 1] -> {"depth" (B, R, R), "albedo" (B, R, R, 3),
  "view" (B, 6), "light" (B, 4)} through the nets and the output maps; ``view_ranges``: keyword
  arguments of :func:`view_output` (None for its defaults)."""
  raw = {name: net.apply({"params": params[name]}, images) for name, net in nets.items()}
  return {"depth": depth_output(raw["depth"]), "albedo": albedo_output(raw["albedo"]),
          "view": view_output(raw["view"], **(view_ranges or {})),
          "light": light_output(raw["light"])}
