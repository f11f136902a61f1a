"""Convolutional components of Table 1: 2D/3D encoders, the 1D-conv mapping, 2D/3D decoders.

Table 1 gives 3x3 kernels with 32 then 16 channels (``3x3x1-3x3x32-3x3x16`` for the image
encoder, ``3x3x3x32-3x3x3x16-30x30x30`` for the voxel decoder) and a mapping ``1x3x100`` followed
by a dense layer. Strides, padding and the final dense layers are not stated; here every
convolution halves (encoder) or doubles (decoder) the grid with stride 2 and SAME padding, and a
dense layer joins the grid to the code vector. One module covers 2D images and 3D voxel grids:
the number of spatial axes sets the kernel rank.

Every convolution is a :class:`Conv` layer, computed natively (``lax``; cuDNN on GPU) or by the
batch-last matrix products of :mod:`inverse3d.models.batch_last`, which only pay on XLA:CPU:
``impl="auto"`` picks by backend at trace time (:func:`resolve_conv_impl`). Both take the same
params and compute the same function.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from inverse3d.checks import check_choice
from inverse3d.models.batch_last import (conv_batch_last, conv_transpose_batch_last,
                                         conv_transpose_phases, interleave_phases)
from inverse3d.models.dense import activation

CONV_IMPLS = ("auto", "native", "batch_last")


def resolve_conv_impl(impl: str = "auto", backend: str | None = None) -> str:
  """"native" or "batch_last" for ``impl`` (one of CONV_IMPLS): "auto" is "batch_last" when
  ``backend`` (default ``jax.default_backend()``, read when called: at trace time) is "cpu",
  where the batch-last matrix products beat XLA's convolutions, and "native" (cuDNN on GPU)
  elsewhere."""
  check_choice("impl", impl, CONV_IMPLS)
  if impl != "auto":
    return impl
  return "batch_last" if (backend or jax.default_backend()) == "cpu" else "native"


def _swap_batch_channels(x):
  """(N, *S, C) <-> (C, *S, N): the channels-last and batch-last layouts."""
  return jnp.moveaxis(x, (0, -1), (-1, 0))


class ConvEncoder(nn.Module):
  """Strided convolutions, then a dense layer to the code: (N, *spatial[, C]) -> (N, features).

  Attributes:
    features: code size (e.g. 60 for images, 400 for voxels).
    spatial_dims: 2 for images (N, H, W, C), 3 for voxels (N, D, H, W) (a channel axis is added
      when the input has none).
    channels: output channels of each convolution, e.g. (32, 16).
    kernel: kernel width along every spatial axis.
    activation: after every convolution.
    impl: how the convolutions are computed, "auto", "native" or "batch_last" (see
      :class:`Conv`); the params and outputs are the same.
  """
  features: int
  spatial_dims: int = 2
  channels: Sequence[int] = (32, 16)
  kernel: int = 3
  activation: str = "relu"
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    act = activation(self.activation)
    impl = resolve_conv_impl(self.impl)
    batch_last = impl == "batch_last"  # its layers chain (C, *grid, N), see Conv
    h = x[..., None] if x.ndim == self.spatial_dims + 1 else x
    h = _swap_batch_channels(h) if batch_last else h
    for i, c in enumerate(self.channels):
      h = act(Conv(c, self.kernel, 2, batch_last=batch_last, impl=impl, name=f"conv_{i}")(h))
    h = _swap_batch_channels(h) if batch_last else h
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


class Conv(nn.Module):
  """flax's ``nn.Conv`` (or with ``transpose`` ``nn.ConvTranspose``) with kernel (k,) * d, stride
  ``stride`` and SAME padding: the same params (``kernel`` (k,...,k, C_in, features), ``bias``),
  initialisation and outputs, computed as ``impl`` says (:func:`resolve_conv_impl`): "native"
  by ``lax.conv_general_dilated`` / ``lax.conv_transpose`` (flax's own calls; cuDNN on GPU),
  "batch_last" by :func:`conv_batch_last` / :func:`conv_transpose_batch_last` (``method``:
  their "auto", "gather" or "scatter"; unused by "native"), "auto" by the backend.

  Shapes, for a convolution (transposed: ``stride * spatial``):
  (N, *spatial, C_in) -> (N, *ceil(spatial / stride), features), or with ``batch_last``
  (C_in, *spatial, N) -> (features, *ceil(spatial / stride), N), the layout the batch-last
  encoders and decoders chain. With ``phase_factor`` f (transposed, batch-last layout and impl
  only) the input grid is held as its f^d phases, (C_in, f^d, *spatial, N), and the output as
  its (f * stride)^d phases, (features, (f * stride)^d, *spatial, N): the decoders chain their
  layers so and interleave once (:func:`~inverse3d.models.batch_last.conv_transpose_phases`).
  """
  features: int
  kernel: int = 3
  stride: int = 2
  transpose: bool = False
  batch_last: bool = False
  impl: str = "auto"
  method: str = "auto"
  phase_factor: int = 0

  @nn.compact
  def __call__(self, x):
    impl = resolve_conv_impl(self.impl)
    dims = x.ndim - (3 if self.phase_factor else 2)
    channels = x.shape[0] if self.batch_last else x.shape[-1]
    w = self.param("kernel", nn.initializers.lecun_normal(),
                   (self.kernel,) * dims + (channels, self.features))
    b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.phase_factor and not (self.transpose and self.batch_last and impl == "batch_last"):
      raise ValueError("phase_factor: phase-decomposed grids are for transposed batch-last "
                       f"layers of impl 'batch_last', got transpose={self.transpose}, "
                       f"batch_last={self.batch_last}, impl={impl!r}")
    if impl == "native":
      space = "".join(map(str, range(dims)))  # the spatial axes' names
      layout = f"C{space}N" if self.batch_last else f"N{space}C"
      conv = lax.conv_transpose if self.transpose else lax.conv_general_dilated
      y = conv(x, w, (self.stride,) * dims, "SAME",
               dimension_numbers=(layout, space + "IO", layout))
    else:
      if self.phase_factor:
        layer = lambda v: conv_transpose_phases(v, w, self.stride, self.phase_factor)
      elif self.transpose:
        layer = lambda v: conv_transpose_batch_last(v, w, self.stride, self.method)
      elif self.method in ("auto", "gather"):
        layer = lambda v: conv_batch_last(v, w, self.stride)
      else:
        raise ValueError(f"method: a strided convolution is computed by 'gather' (or 'auto'), "
                         f"got {self.method!r}")
      y = layer(x) if self.batch_last else _swap_batch_channels(layer(_swap_batch_channels(x)))
    if self.batch_last:
      return y + jnp.reshape(b, (-1,) + (1,) * (y.ndim - 1))
    return y + b


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
    impl: how the transposed convolutions are computed, "auto", "native" or "batch_last" (see
      :class:`Conv`); the params and outputs are the same.
  """
  spatial: Sequence[int]
  out_channels: int | None = None
  channels: Sequence[int] = (32, 16)
  kernel: int = 3
  activation: str = "relu"
  out_activation: str = "identity"
  impl: str = "auto"

  @nn.compact
  def __call__(self, y):
    act = activation(self.activation)
    out_act = activation(self.out_activation, "out_activation")
    impl = resolve_conv_impl(self.impl)
    batch_last = impl == "batch_last"
    factor = 2 ** len(self.channels)
    coarse = tuple(math.ceil(s / factor) for s in self.spatial)
    h = nn.Dense(math.prod(coarse) * self.channels[0], name="dense")(y)
    h = act(jnp.reshape(h, (y.shape[0], *coarse, self.channels[0])))
    # "batch_last" runs its layers on phase-decomposed grids, (C, phases, *coarse, N) (see
    # Conv), interleaved once after the last.
    h = _swap_batch_channels(h)[:, None] if batch_last else h
    widths = (*self.channels[1:], self.out_channels or 1)
    for i, c in enumerate(widths):
      h = Conv(c, self.kernel, 2, transpose=True, batch_last=batch_last, impl=impl,
               phase_factor=2 ** i if batch_last else 0, name=f"deconv_{i}")(h)
      if i < len(widths) - 1:
        h = act(h)
    h = interleave_phases(h, factor) if batch_last else h
    # The grid's axes are 1..d in either layout: crop, then (batch-last) swap back.
    starts = [(have - want) // 2 for have, want in zip(h.shape[1:-1], self.spatial)]
    h = h[(slice(None), *(slice(a, a + s) for a, s in zip(starts, self.spatial)))]
    h = out_act(_swap_batch_channels(h) if batch_last else h)  # (N, *spatial, C)
    return h[..., 0] if self.out_channels is None else h
