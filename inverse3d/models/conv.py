"""Convolutional components of Table 1: 2D/3D encoders, the 1D-conv mapping, 2D/3D decoders.

Table 1 gives 3x3 kernels with 32 then 16 channels (``3x3x1-3x3x32-3x3x16`` for the image
encoder, ``3x3x3x32-3x3x3x16-30x30x30`` for the voxel decoder) and a mapping ``1x3x100`` followed
by a dense layer. Strides, padding and the final dense layers are not stated; here every
convolution halves (encoder) or doubles (decoder) the grid with stride 2 and SAME padding, and a
dense layer joins the grid to the code vector. One module covers 2D images and 3D voxel grids:
the number of spatial axes sets the kernel rank.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from inverse3d.models.batch_last import (conv_batch_last, conv_transpose_batch_last,
                                         conv_transpose_phases, interleave_phases)
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
    h = jnp.moveaxis(h, (0, -1), (-1, 0))  # batch-last (C, *grid, N), see BatchLastConv
    for i, c in enumerate(self.channels):
      h = act(BatchLastConv(c, self.kernel, 2, batch_last=True, name=f"conv_{i}")(h))
    h = jnp.moveaxis(h, (0, -1), (-1, 0))
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


class BatchLastConv(nn.Module):
  """flax's ``nn.Conv`` (or with ``transpose`` ``nn.ConvTranspose``) with kernel (k,) * d, stride
  ``stride`` and SAME padding: the same params (``kernel`` (k,...,k, C_in, features), ``bias``),
  initialisation and outputs, computed by :func:`conv_batch_last` or
  :func:`conv_transpose_batch_last` (``method``: their "auto", "gather" or "scatter").

  Shapes, for a convolution (transposed: ``stride * spatial``):
  (N, *spatial, C_in) -> (N, *ceil(spatial / stride), features), or with ``batch_last``
  (C_in, *spatial, N) -> (features, *ceil(spatial / stride), N), the layout the conv encoders
  and decoders chain. With ``phase_factor`` f (transposed and batch-last only) the input grid
  is held as its f^d phases, (C_in, f^d, *spatial, N), and the output as its (f * stride)^d
  phases, (features, (f * stride)^d, *spatial, N): the decoders chain their layers so and
  interleave once (:func:`~inverse3d.models.batch_last.conv_transpose_phases`).
  """
  features: int
  kernel: int = 3
  stride: int = 2
  transpose: bool = False
  batch_last: bool = False
  method: str = "auto"
  phase_factor: int = 0

  @nn.compact
  def __call__(self, x):
    dims = x.ndim - (3 if self.phase_factor else 2)
    channels = x.shape[0] if self.batch_last else x.shape[-1]
    w = self.param("kernel", nn.initializers.lecun_normal(),
                   (self.kernel,) * dims + (channels, self.features))
    b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.phase_factor:
      if not (self.transpose and self.batch_last):
        raise ValueError("phase_factor: phase-decomposed grids are for transposed batch-last "
                         f"layers, got transpose={self.transpose}, batch_last={self.batch_last}")
      layer = lambda v: conv_transpose_phases(v, w, self.stride, self.phase_factor)
    elif self.transpose:
      layer = lambda v: conv_transpose_batch_last(v, w, self.stride, self.method)
    elif self.method in ("auto", "gather"):
      layer = lambda v: conv_batch_last(v, w, self.stride)
    else:
      raise ValueError(f"method: a strided convolution is computed by 'gather' (or 'auto'), "
                       f"got {self.method!r}")
    if self.batch_last:
      y = layer(x)
      return y + jnp.reshape(b, (-1,) + (1,) * (y.ndim - 1))
    order = (dims + 1, *range(1, dims + 1), 0)  # (N, *S, C) <-> (C, *S, N)
    return jnp.transpose(layer(jnp.transpose(x, order)), order) + b


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
    # The layers run batch-last on phase-decomposed grids, (C, phases, *coarse, N) (see
    # BatchLastConv), interleaved once after the last.
    h = nn.Dense(math.prod(coarse) * self.channels[0], name="dense")(y)
    h = jnp.transpose(jnp.reshape(h, (y.shape[0], -1, self.channels[0])), (2, 1, 0))
    h = act(jnp.reshape(h, (self.channels[0], 1, *coarse, y.shape[0])))
    widths = (*self.channels[1:], self.out_channels or 1)
    for i, c in enumerate(widths):
      h = BatchLastConv(c, self.kernel, 2, transpose=True, batch_last=True, phase_factor=2 ** i,
                        name=f"deconv_{i}")(h)
      if i < len(widths) - 1:
        h = act(h)
    h = interleave_phases(h, factor)
    starts = [(have - want) // 2 for have, want in zip(h.shape[1:-1], self.spatial)]
    h = h[(slice(None), *(slice(a, a + s) for a, s in zip(starts, self.spatial)))]
    h = jnp.moveaxis(h, (0, -1), (-1, 0))  # (N, *spatial, C)
    h = out_act(h)
    return h[..., 0] if self.out_channels is None else h
