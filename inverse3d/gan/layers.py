"""StyleGAN2's layers in flax.linen, images NHWC.

Weights are stored as unit normals and scaled when applied ("equalised learning rate", Karras et
al. 2018), so a layer's parameters read like the published ones: a weight of shape (in, out) or
(k, k, in, out), a bias, a modulation whose bias starts at 1. Resampling is the FIR filter of
StyleGAN2 ([1, 3, 3, 1] outer product, sum 1): an upsampling convolution is a stride-2
transposed convolution followed by the filter, a downsampling one the filter followed by a
stride-2 convolution, the to-RGB skip is upsampled by zero insertion and the filter. These are
the operations of the published PyTorch code (rosinality's stylegan2-pytorch), so its weights
convert and compute the same function (``inverse3d.gan.convert``).

The modulated convolution scales the input channels by the style, convolves with the shared
weight and scales the output channels by the demodulation factor, the same function as
convolving with per-sample modulated weights (StyleGAN2's eq. 1-3) computed as one batched
convolution on any backend.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_choice

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def fused_lrelu(x, bias):
  """Leaky ReLU (slope 0.2) of ``x + bias`` times sqrt(2), bias on the last axis."""
  return jax.nn.leaky_relu(x + bias, LRELU_SLOPE) * LRELU_GAIN


def fir_taps(taps=BLUR_TAPS, gain: float = 1.0) -> np.ndarray:
  """The 1-D factor of StyleGAN2's separable (k, k) FIR filter ``outer(taps, taps)``, scaled
  so that the 2-D filter sums to ``gain``."""
  taps = np.asarray(taps, np.float64)
  return (taps / taps.sum() * math.sqrt(gain)).astype(np.float32)


def fir_kernel(taps=BLUR_TAPS, gain: float = 1.0) -> np.ndarray:
  """(k, k) separable filter: the outer product of ``taps``, normalised to sum ``gain``."""
  factor = fir_taps(taps, gain).astype(np.float64)
  return np.outer(factor, factor).astype(np.float32)


def _zero_insert(x, up: int, axis: int):
  """``up - 1`` zeros after every entry along ``axis``."""
  if up == 1:
    return x
  x = jnp.expand_dims(x, axis + 1)
  pad = [(0, 0)] * x.ndim
  pad[axis + 1] = (0, up - 1)
  x = jnp.pad(x, pad)
  return x.reshape(*x.shape[:axis], -1, *x.shape[axis + 2:])


def upfirdn(x, taps: np.ndarray, *, up: int = 1, down: int = 1, pad=(0, 0)):
  """Upsample by zero insertion, pad, filter, keep every ``down``-th pixel (rosinality's
  ``upfirdn2d`` with the separable filter ``outer(taps, taps)``).

  x: (B, H, W, C); taps (k,) from :func:`fir_taps`. ``pad`` (before, after) in pixels of the
  upsampled image. Output side: ``(H * up + pad[0] + pad[1] - k) // down + 1``. The filter is
  a true convolution, applied one axis at a time as k shifted, weighted sums (elementwise work
  that XLA fuses on every backend).
  """
  flipped = np.asarray(taps)[::-1]
  for axis in (1, 2):
    x = _zero_insert(x, up, axis)
    widths = [(0, 0)] * 4
    widths[axis] = tuple(pad)
    x = jnp.pad(x, widths)
    n = x.shape[axis] - len(flipped) + 1
    x = sum(float(t) * jax.lax.slice_in_dim(x, i, i + n, axis=axis) for i, t in enumerate(flipped))
    x = jax.lax.slice_in_dim(x, 0, n, stride=down, axis=axis)
  return x


def upsample2(x):
  """2x upsampling of (B, H, W, C) by zero insertion and the FIR filter (the to-RGB skip)."""
  return upfirdn(x, fir_taps(gain=4.0), up=2, pad=(2, 1))


CONV_IMPLS = ("auto", "native", "matmul")
_CONV_IMPL = contextvars.ContextVar("inverse3d_gan_conv_impl", default="auto")


@contextlib.contextmanager
def conv_impl(impl: str):
  """Within the block (at trace time), the GAN's convolutions compute as ``impl``: "native"
  (``lax.conv_general_dilated``; cuDNN on GPU), "matmul" (shifted copies and one matrix
  product, whose gradient XLA:CPU computes several times faster than its convolutions'), or
  "auto" (matmul on CPU, native elsewhere; the default)."""
  check_choice("impl", impl, CONV_IMPLS)
  token = _CONV_IMPL.set(impl)
  try:
    yield
  finally:
    _CONV_IMPL.reset(token)


def resolved_conv_impl() -> str:
  impl = _CONV_IMPL.get()
  if impl == "auto":
    return "matmul" if jax.default_backend() == "cpu" else "native"
  return impl


def conv2d(x, weight, *, stride: int = 1, padding: int = 0):
  """Cross-correlation of (B, H, W, I) with (k, k, I, O), symmetric zero ``padding``."""
  if resolved_conv_impl() == "native":
    return jax.lax.conv_general_dilated(x, weight, (stride, stride), [(padding, padding)] * 2,
                                        dimension_numbers=DIMENSIONS)
  k = weight.shape[0]
  x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  h, w = ((x.shape[a] - k) // stride + 1 for a in (1, 2))
  patches = jnp.concatenate(
      [x[:, i:i + stride * (h - 1) + 1:stride, j:j + stride * (w - 1) + 1:stride]
       for i in range(k) for j in range(k)], -1)
  return patches @ weight.reshape(-1, weight.shape[-1])


def conv_transpose2x(x, weight):
  """Stride-2 transposed convolution, no padding (PyTorch's ``conv_transpose2d(x, w, stride=2)``
  with w[i, o] = weight[..., i, o]): (B, H, W, I), (k, k, I, O), k odd -> (B, 2H + k - 1, ., O),
  one zero row and column past the transposed convolution's 2H + k - 2.

  Output pixel 2m + p reads input pixels m - d with taps 2d + p. All four phases (p_y, p_x)
  are one correlation of the input, padded by (k - 1) / 2, with a (L, L) kernel of 4 O outputs
  (L = (k + 1) / 2), interleaved after: no multiplications by inserted zeros.
  """
  k, _, i_ch, o_ch = weight.shape
  if k % 2 == 0:
    raise ValueError(f"weight: expected an odd kernel size, got {k}")
  length = (k + 1) // 2
  taps = np.zeros((length, 2, k), np.float32)  # taps[j, p, t]: window j of phase p is tap t
  for j in range(length):
    for p in range(2):
      t = 2 * (length - 1 - j) + p
      if t < k:
        taps[j, p, t] = 1.0
  combined = jnp.einsum("jpa,kqb,abio->jkipqo", taps, taps, weight)
  combined = combined.reshape(length, length, i_ch, 4 * o_ch)
  pad = length - 1
  y = conv2d(x, combined.astype(x.dtype), padding=pad)  # (B, H + L - 1, W + L - 1, 4 O)
  b, h, w, _ = y.shape
  y = y.reshape(b, h, w, 2, 2, o_ch).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(b, 2 * h, 2 * w, o_ch)


class EqualLinear(nn.Module):
  """Dense layer with equalised learning rate: ``x @ (w * lr_mul / sqrt(in)) + b * lr_mul``.

  ``activation``: fused leaky ReLU when True. ``bias_init``: the bias's starting value (1 for
  a modulation). ``lr_mul`` scales the effective learning rate (0.01 in the mapping network).
  """
  features: int
  activation: bool = False
  bias_init: float = 0.0
  lr_mul: float = 1.0

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    weight = self.param("weight", lambda k, s: jax.random.normal(k, s) / self.lr_mul,
                        (fan_in, self.features))
    bias = self.param("bias", lambda k, s: jnp.full(s, self.bias_init), (self.features,))
    y = x @ (weight * (self.lr_mul / math.sqrt(fan_in)))
    if self.activation:
      return fused_lrelu(y, bias * self.lr_mul)
    return y + bias * self.lr_mul


class ModulatedConv(nn.Module):
  """StyleGAN2's modulated convolution of (B, H, W, I) by a style (B, D) -> (B, H', W', O).

  ``upsample``: stride-2 transposed convolution then the FIR filter (H' = 2H). ``demodulate``:
  each output channel of each sample scaled to unit expected variance (False in to-RGB).
  """
  features: int
  kernel_size: int = 3
  upsample: bool = False
  demodulate: bool = True

  @nn.compact
  def __call__(self, x, style):
    in_channels, k = x.shape[-1], self.kernel_size
    s = EqualLinear(in_channels, bias_init=1.0, name="modulation")(style)  # (B, I)
    weight = self.param("weight", nn.initializers.normal(1.0), (k, k, in_channels, self.features))
    weight = weight * (1.0 / math.sqrt(in_channels * k * k))
    x = x * s[:, None, None, :].astype(x.dtype)
    if self.upsample:
      # The filter's padding (1, 1) of the transposed convolution's output is (1, 0) of
      # conv_transpose2x's, which ends in one zero row and column.
      y = upfirdn(conv_transpose2x(x, weight.astype(x.dtype)), fir_taps(gain=4.0), pad=(1, 0))
    else:
      y = conv2d(x, weight.astype(x.dtype), padding=k // 2)
    if self.demodulate:
      # sum over (k, k, I) of (w * s)^2 = (s^2) @ (sum over k, k of w^2)
      demod = jax.lax.rsqrt(jnp.square(s) @ jnp.sum(jnp.square(weight), (0, 1)) + 1e-8)
      y = y * demod[:, None, None, :].astype(y.dtype)
    return y


class StyledConv(nn.Module):
  """Modulated 3x3 convolution, per-pixel noise (learned strength, starts at 0), bias, leaky
  ReLU. ``noise``: (B or 1, H', W', 1) or None for none."""
  features: int
  upsample: bool = False

  @nn.compact
  def __call__(self, x, style, noise=None):
    y = ModulatedConv(self.features, 3, upsample=self.upsample, name="conv")(x, style)
    strength = self.param("noise_strength", nn.initializers.zeros, (1,))
    if noise is not None:
      y = y + strength * noise
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return fused_lrelu(y, bias)


class ToRGB(nn.Module):
  """1x1 modulated convolution to 3 channels (not demodulated) plus bias, added to the
  upsampled ``skip`` from the previous resolution when given."""

  @nn.compact
  def __call__(self, x, style, skip=None):
    y = ModulatedConv(3, 1, demodulate=False, name="conv")(x, style)
    y = y + self.param("bias", nn.initializers.zeros, (3,))
    if skip is not None:
      y = y + upsample2(skip)
    return y


class ConvLayer(nn.Module):
  """Discriminator convolution with equalised learning rate: optional FIR filter and stride 2
  (``downsample``), bias and leaky ReLU (``activate``), or neither bias nor activation."""
  features: int
  kernel_size: int
  downsample: bool = False
  activate: bool = True

  @nn.compact
  def __call__(self, x):
    in_channels, k = x.shape[-1], self.kernel_size
    weight = self.param("weight", nn.initializers.normal(1.0), (k, k, in_channels, self.features))
    weight = (weight * (1.0 / math.sqrt(in_channels * k * k))).astype(x.dtype)
    if self.downsample:
      p = len(BLUR_TAPS) - 2 + k - 1
      x = upfirdn(x, fir_taps(), pad=((p + 1) // 2, p // 2))
      y = conv2d(x, weight, stride=2)
    else:
      y = conv2d(x, weight, padding=k // 2)
    if self.activate:
      return fused_lrelu(y, self.param("bias", nn.initializers.zeros, (self.features,)))
    return y


class ResBlock(nn.Module):
  """Residual discriminator block: two 3x3 convolutions (the second downsampling) beside a
  downsampling 1x1 skip, summed and scaled by 1 / sqrt(2). (B, H, W, I) -> (B, H/2, W/2, O)."""
  features: int

  @nn.compact
  def __call__(self, x):
    y = ConvLayer(x.shape[-1], 3, name="conv1")(x)
    y = ConvLayer(self.features, 3, downsample=True, name="conv2")(y)
    skip = ConvLayer(self.features, 1, downsample=True, activate=False, name="skip")(x)
    return (y + skip) * (1.0 / math.sqrt(2.0))


def minibatch_stddev(x, group_size: int = 4):
  """Appends one channel: the standard deviation over groups of samples, averaged over
  features and pixels (StyleGAN's minibatch standard deviation). (B, H, W, C) -> (..., C + 1).

  Samples i, i + B/G, i + 2B/G, ... form a group (as the published code); B must be a
  multiple of the group size G = min(group_size, B).
  """
  b, h, w, c = x.shape
  group = min(group_size, b)
  if b % group:
    raise ValueError(f"batch: expected a multiple of the minibatch-stddev group {group}, got {b}")
  grouped = x.reshape(group, b // group, h, w, c).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(grouped, axis=0) + 1e-8)  # (B/G, H, W, C)
  std = jnp.mean(std, axis=(1, 2, 3))  # (B/G,)
  std = jnp.tile(std, group)[:, None, None, None]
  return jnp.concatenate([x, jnp.broadcast_to(std, (b, h, w, 1)).astype(x.dtype)], -1)
