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
from jax import lax
import numpy as np

from inverse3d.checks import check_choice
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
  window offset j, L the window length; lo: the first offset, <= 0), so tap t of phase p reads
  ``x[m + j + lo]``.
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


def _shifted(x, shift: Sequence[int]):
  """``y[..., m, ..., n] = x[..., m + shift, ..., n]`` on the spatial axes of (C, *S, N), zero
  where ``m + shift`` leaves the grid."""
  spatial = x.shape[1:-1]
  keep = tuple(slice(min(max(d, 0), v), max(min(v + d, v), 0)) for d, v in zip(shift, spatial))
  pads = [(0, 0)] + [(min(max(-d, 0), v), min(max(d, 0), v)) for d, v in zip(shift, spatial)]
  return jnp.pad(x[(slice(None), *keep)], pads + [(0, 0)])


def _phases_by_gather(x, w, select, lo):
  """Every output phase of the transposed convolution, gathering first: one matrix product of
  the phase kernels with the shifted copies of the input ("im2col").

  x (C_in, *S, N), w (k,...,k, C_in, C_out) -> (s^d, C_out, *S, N).
  """
  dims, (s, window, _) = x.ndim - 2, select.shape
  taps, phases, offsets = "abc"[:dims], "PQR"[:dims], "JKL"[:dims]
  # Phase kernels k[p.., o, j.., i] = sum_t prod_axis select[p, j, t] * w[t.., i, o].
  spec = ",".join(p + j + t for p, j, t in zip(phases, offsets, taps))
  k = jnp.einsum(f"{spec},{taps}io->{phases}o{offsets}i", *[select] * dims, w)
  k = jnp.reshape(k, (s ** dims * w.shape[-1], window ** dims * x.shape[0]))
  patches = jnp.concatenate([_shifted(x, [j + lo for j in shift])
                             for shift in itertools.product(range(window), repeat=dims)])
  y = k @ jnp.reshape(patches, (k.shape[1], -1))
  return jnp.reshape(y, (s ** dims, w.shape[-1], *x.shape[1:]))


def _phases_by_scatter(x, w, select, lo):
  """Every output phase of the transposed convolution, multiplying first: each tap's product
  with the input, then per phase the sum of its taps' products, shifted ("col2im").

  x (C_in, *S, N), w (k,...,k, C_in, C_out) -> (s^d, C_out, *S, N).
  """
  dims, (s, window, kernel) = x.ndim - 2, select.shape
  per_tap = jnp.moveaxis(w, -1, -2).reshape(kernel ** dims * w.shape[-1], x.shape[0])
  z = jnp.reshape(per_tap @ jnp.reshape(x, (x.shape[0], -1)), (kernel ** dims, -1, *x.shape[1:]))
  # Split, so that each tap's shifted reads transpose to its own pad (not a sum of pads).
  z = [part[0] for part in jnp.split(z, kernel ** dims)]
  phases = []
  for phase in itertools.product(range(s), repeat=dims):
    terms = [_shifted(z[np.ravel_multi_index(tap, (kernel,) * dims)],
                      [j + lo for j in shift])
             for tap in itertools.product(range(kernel), repeat=dims)
             for shift in itertools.product(range(window), repeat=dims)
             if all(select[p, j, t] for p, j, t in zip(phase, shift, tap))]
    phases.append(sum(terms[1:], terms[0]) if terms else jnp.zeros_like(z[0]))
  return jnp.stack(phases)


def conv_transpose_batch_last(x, w, stride: int, method: str = "auto"):
  """``lax.conv_transpose(..., padding="SAME")`` on batch-last arrays: x (C_in, *S, N), w
  (k,...,k, C_in, C_out) -> (C_out, *(stride * S), N).

  Computed as a stride-1 problem per output phase, then the phases interleaved ("sub-pixel"),
  from matrix products and shifted copies only: XLA on CPU runs input-dilated and 3D
  convolutions (what ``lax.conv_transpose`` lowers to) through a slow generic path, while its
  matrix products are fast. With the batch on the last (minor) axis every shift, pad and
  interleave moves whole rows of N values. ``method``: "gather" materialises window^d shifted
  copies of the input (window^d * C_in values per cell), "scatter" the per-tap products
  (k^d * C_out per cell); "auto" picks the smaller.
  """
  dims = x.ndim - 2
  select, lo = _subpixel_taps(w.shape[0], stride)
  check_choice("method", method, ("auto", "gather", "scatter"))
  if method == "auto":
    gather_size = select.shape[1] ** dims * w.shape[-2]
    method = "gather" if gather_size <= w.shape[0] ** dims * w.shape[-1] else "scatter"
  phases = (_phases_by_gather if method == "gather" else _phases_by_scatter)(x, w, select, lo)
  # (s,..,s, C_out, *S, N) -> (C_out, S_1, s, S_2, s, ..., N): a transpose kept out of the
  # fusions around it (fused into elementwise loops XLA's CPU transposes are 5-10x slower).
  spatial, n = x.shape[1:-1], x.shape[-1]
  y = jnp.reshape(lax.optimization_barrier(phases), (*(stride,) * dims, w.shape[-1], *spatial, n))
  order = [dims] + [i for a in range(dims) for i in (dims + 1 + a, a)] + [2 * dims + 1]
  y = jnp.transpose(y, order)
  return jnp.reshape(y, (w.shape[-1], *(stride * v for v in spatial), n))


class SubpixelConvTranspose(nn.Module):
  """``nn.ConvTranspose(features, (kernel,) * d, strides=stride, padding="SAME")`` with the
  same params (``kernel`` (k,...,k, C_in, features), ``bias``), the same initialisation and the
  same output, computed by :func:`conv_transpose_batch_last`.

  (N, *spatial, C_in) -> (N, *(stride * spatial), features), or with ``batch_last``
  (C_in, *spatial, N) -> (features, *(stride * spatial), N), the layout the conv decoders chain.
  """
  features: int
  kernel: int = 3
  stride: int = 2
  batch_last: bool = False
  method: str = "auto"

  @nn.compact
  def __call__(self, x):
    dims = x.ndim - 2
    channels = x.shape[0] if self.batch_last else x.shape[-1]
    w = self.param("kernel", nn.initializers.lecun_normal(),
                   (self.kernel,) * dims + (channels, self.features))
    b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.batch_last:
      y = conv_transpose_batch_last(x, w, self.stride, self.method)
      return y + jnp.reshape(b, (-1,) + (1,) * (dims + 1))
    order = (dims + 1, *range(1, dims + 1), 0)  # (N, *S, C) <-> (C, *S, N)
    y = conv_transpose_batch_last(jnp.transpose(x, order), w, self.stride, self.method)
    return jnp.transpose(y, order) + b


class DenseBatchLast(nn.Module):
  """``nn.Dense`` (same params and initialisation) with its output transposed:
  (N, k) -> (features, N), computed as one matrix product without a transpose."""
  features: int

  @nn.compact
  def __call__(self, y):
    w = self.param("kernel", nn.initializers.lecun_normal(), (y.shape[-1], self.features))
    b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    return jnp.einsum("kf,nk->fn", w, y) + b[:, None]


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
    # The layers run batch-last, (C, *grid, N) (see conv_transpose_batch_last).
    h = nn.Dense(math.prod(coarse) * self.channels[0], name="dense")(y)
    h = jnp.transpose(jnp.reshape(h, (y.shape[0], -1, self.channels[0])), (2, 1, 0))
    h = act(jnp.reshape(lax.optimization_barrier(h), (self.channels[0], *coarse, y.shape[0])))
    widths = (*self.channels[1:], self.out_channels or 1)
    for i, c in enumerate(widths):
      h = SubpixelConvTranspose(c, self.kernel, 2, batch_last=True, name=f"deconv_{i}")(h)
      if i < len(widths) - 1:
        h = act(h)
    starts = [(have - want) // 2 for have, want in zip(h.shape[1:-1], self.spatial)]
    h = h[(slice(None), *(slice(a, a + s) for a, s in zip(starts, self.spatial)))]
    h = lax.optimization_barrier(jnp.moveaxis(h, (0, -1), (-1, 0)))  # (N, *spatial, C)
    h = out_act(h)
    return h[..., 0] if self.out_channels is None else h
