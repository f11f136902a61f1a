"""Convolutional components of Table 1: 2D/3D encoders, the 1D-conv mapping, 2D/3D decoders.

Table 1 gives 3x3 kernels with 32 then 16 channels (``3x3x1-3x3x32-3x3x16`` for the image
encoder, ``3x3x3x32-3x3x3x16-30x30x30`` for the voxel decoder) and a mapping ``1x3x100`` followed
by a dense layer. Strides, padding and the final dense layers are not stated; here every
convolution halves (encoder) or doubles (decoder) the grid with stride 2 and SAME padding, and a
dense layer joins the grid to the code vector. One module covers 2D images and 3D voxel grids:
the number of spatial axes sets the kernel rank.
"""
from __future__ import annotations

import itertools
import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from inverse3d.models.dense import activation


class ConvEncoder(nn.Module):
  """Strided convolutions, then a dense layer to the code: (N, *spatial[, C]) -> (N, features).

  Attributes:
    features: code size (e.g. 60 for images, 400 for voxels).
    spatial_dims: 2 for images (N, H, W, C), 3 for voxels (N, D, H, W) (a channel axis is added
      when the input has none).
    channels: output channels of each convolution, e.g. (32, 16).
    kernel: kernel width along every spatial axis.
    activation: after every convolution.
  """
  features: int
  spatial_dims: int = 2
  channels: Sequence[int] = (32, 16)
  kernel: int = 3
  activation: str = "relu"

  @nn.compact
  def __call__(self, x):
    act = activation(self.activation)
    h = x[..., None] if x.ndim == self.spatial_dims + 1 else x
    for i, c in enumerate(self.channels):
      h = act(nn.Conv(c, (self.kernel,) * self.spatial_dims, strides=2, padding="SAME",
                      name=f"conv_{i}")(h))
    return nn.Dense(self.features, name="out")(jnp.reshape(h, (h.shape[0], -1)))


class ConvMapping(nn.Module):
  """A 1D convolution along the code, then a dense layer: (N, k) -> (N, features).

  Table 1's convolutional mapping ``1x3x100 - 98``: the k-vector is read as a length-k signal
  with one channel, convolved with ``channels`` filters of width ``kernel`` (SAME padding), and
  the (k, channels) result is mapped densely to ``features``.
  """
  features: int
  channels: int = 100
  kernel: int = 3
  activation: str = "relu"

  @nn.compact
  def __call__(self, y):
    act = activation(self.activation)
    h = act(nn.Conv(self.channels, (self.kernel,), padding="SAME", name="conv")(y[..., None]))
    return nn.Dense(self.features, name="out")(jnp.reshape(h, (h.shape[0], -1)))


def _subpixel_taps(kernel: int, stride: int) -> tuple[np.ndarray, int]:
  """Per axis, which taps of a transposed convolution's kernel feed each output phase.

  A stride-s transposed convolution with SAME padding (``jax.lax.conv_transpose``: the input
  dilated by s, padded by (pad_a, pad_b), convolved with the unflipped kernel) computes
  ``y[s*m + p] = sum_t w[t] * x[m + (p + t - pad_a) / s]`` over the taps t with
  ``p + t - pad_a`` divisible by s. Returns (select (s, L, kernel) 0/1: phase p's tap at
  window offset j, L the window length; lo: the first offset, <= 0).
  """
  pad_len = kernel + stride - 2
  pad_a = kernel - 1 if stride > kernel - 1 else math.ceil(pad_len / 2)
  offsets = {(p, t): (p + t - pad_a) // stride for p in range(stride) for t in range(kernel)
             if (p + t - pad_a) % stride == 0}
  lo, hi = min(offsets.values()), max(offsets.values())
  select = np.zeros((stride, hi - lo + 1, kernel), np.float32)
  for (p, t), d in offsets.items():
    select[p, d - lo, t] = 1.0
  return select, lo


class SubpixelConvTranspose(nn.Module):
  """``nn.ConvTranspose(features, (kernel,) * d, strides=stride, padding="SAME")`` with the
  same params (``kernel`` (k,...,k, C_in, features), ``bias``), the same initialisation and the
  same output, computed as one stride-1 convolution producing every output phase as channels,
  then interleaved ("sub-pixel"), the convolution itself as one matrix product over shifted
  copies of the input. XLA on CPU runs input-dilated and 3D convolutions (what
  ``lax.conv_transpose`` lowers to) through a slow generic path; this form avoids both.

  (N, *spatial, C_in) -> (N, *(stride * spatial), features).
  """
  features: int
  kernel: int = 3
  stride: int = 2

  @nn.compact
  def __call__(self, x):
    dims = x.ndim - 2
    w = self.param("kernel", nn.initializers.lecun_normal(),
                   (self.kernel,) * dims + (x.shape[-1], self.features))
    b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    select, lo = _subpixel_taps(self.kernel, self.stride)
    s, window = self.stride, select.shape[1]
    taps, phases, offsets = "abc"[:dims], "PQR"[:dims], "JKL"[:dims]
    # Phase kernels k[j.., i, p.., o] = sum_t prod_axis select[p, j, t] * w[t.., i, o].
    spec = ",".join(p + j + t for p, j, t in zip(phases, offsets, taps))
    k = jnp.einsum(f"{spec},{taps}io->{offsets}i{phases}o", *[select] * dims, w)
    k = jnp.reshape(k, (window ** dims, x.shape[-1], s ** dims * self.features))
    # The stride-1 convolution as one matrix product over shifted copies of the input (XLA on
    # CPU has no fast path for 3D convolutions; its dot is fast).
    n, spatial = x.shape[0], x.shape[1:-1]
    padded = jnp.pad(x, [(0, 0)] + [(-lo, window - 1 + lo)] * dims + [(0, 0)])
    patches = jnp.concatenate(
        [padded[(slice(None), *(slice(j, j + v) for j, v in zip(shift, spatial)))]
         for shift in itertools.product(range(window), repeat=dims)], axis=-1)
    y = jnp.reshape(patches, (-1, k.shape[0] * k.shape[1])) @ jnp.reshape(k, (-1, k.shape[2]))
    y = jnp.reshape(y, (n, *spatial, *(s,) * dims, self.features))
    order = [0] + [i for a in range(dims) for i in (1 + a, 1 + dims + a)] + [1 + 2 * dims]
    y = jnp.transpose(y, order)
    return jnp.reshape(y, (n, *(s * v for v in spatial), self.features)) + b


class ConvDecoder(nn.Module):
  """A dense layer to a coarse grid, then stride-2 transposed convolutions up to ``spatial``.

  (N, k) -> (N, *spatial, out_channels), or (N, *spatial) when ``out_channels`` is None (voxels).

  The coarse grid has ``ceil(s / 2**len(channels))`` cells per axis and ``channels[0]`` features;
  each transposed convolution doubles it, the last one to ``out_channels``; the result is
  cropped centrally to ``spatial`` (30 -> 8 -> 16 -> 32 -> crop 30 for voxels).

  Attributes:
    spatial: output grid, (H, W) for images, (30, 30, 30) for voxels.
    out_channels: image channels, or None for a single squeezed channel.
    channels: widths of the coarse grid and of the intermediate layers, e.g. (32, 16).
    kernel: kernel width along every spatial axis.
    activation: between layers; out_activation: on the output ("sigmoid" for (0, 1) values).
  """
  spatial: Sequence[int]
  out_channels: int | None = None
  channels: Sequence[int] = (32, 16)
  kernel: int = 3
  activation: str = "relu"
  out_activation: str = "identity"

  @nn.compact
  def __call__(self, y):
    act = activation(self.activation)
    out_act = activation(self.out_activation, "out_activation")
    factor = 2 ** len(self.channels)
    coarse = tuple(math.ceil(s / factor) for s in self.spatial)
    h = nn.Dense(math.prod(coarse) * self.channels[0], name="dense")(y)
    h = act(jnp.reshape(h, (y.shape[0], *coarse, self.channels[0])))
    widths = (*self.channels[1:], self.out_channels or 1)
    for i, c in enumerate(widths):
      h = SubpixelConvTranspose(c, self.kernel, 2, name=f"deconv_{i}")(h)
      if i < len(widths) - 1:
        h = act(h)
    starts = [(have - want) // 2 for have, want in zip(h.shape[1:-1], self.spatial)]
    h = h[(slice(None), *(slice(a, a + s) for a, s in zip(starts, self.spatial)))]
    h = out_act(h)
    return h[..., 0] if self.out_channels is None else h
