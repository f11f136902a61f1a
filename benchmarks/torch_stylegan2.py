"""An independent PyTorch StyleGAN2 (generator and discriminator), the baseline of
benchmarks/gan_step.py: the same structure and widths as ``inverse3d.gan`` (mapping MLP,
modulated and demodulated convolutions with noise, transposed-convolution upsampling with the
[1, 3, 3, 1] filter, skip to-RGB, residual discriminator with minibatch stddev), written for
torch's NCHW layout. Imported only by the benchmark (torch is not a dependency).
"""
from __future__ import annotations

import math


def torch_networks(spec, modconv: str):
  """(Generator, Discriminator) torch.nn classes for ``spec`` (a GeneratorSpec)."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  gain = math.sqrt(2.0)

  def fused_lrelu(x, bias):
    return F.leaky_relu(x + bias.view(1, -1, *([1] * (x.ndim - 2))), 0.2) * gain

  def blur_kernel(factor: float = 1.0):
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(taps, taps)
    return kernel / kernel.sum() * factor

  def upfirdn2d(x, kernel, up: int = 1, down: int = 1, pad=(0, 0)):
    """Zero insertion by ``up``, padding, the (k, k) filter (a true convolution, depthwise),
    every ``down``-th pixel: (B, C, H, W)."""
    b, c, h, w = x.shape
    if up > 1:
      x = F.pad(x.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1))
      x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = kernel.shape[0]
    weight = torch.flip(kernel, (0, 1)).view(1, 1, k, k).expand(c, 1, k, k)
    x = F.conv2d(x, weight.to(x), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x

  class EqualLinear(nn.Module):
    def __init__(self, fan_in, features, activation=False, bias_init=0.0, lr_mul=1.0):
      super().__init__()
      self.weight = nn.Parameter(torch.randn(features, fan_in) / lr_mul)
      self.bias = nn.Parameter(torch.full((features,), float(bias_init)))
      self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(fan_in), lr_mul, activation

    def forward(self, x):
      if self.activation:
        return fused_lrelu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
      return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)

  class ModulatedConv(nn.Module):
    def __init__(self, cin, cout, k, style_dim, demodulate=True, upsample=False):
      super().__init__()
      self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
      self.modulation = EqualLinear(style_dim, cin, bias_init=1.0)
      self.scale, self.k = 1.0 / math.sqrt(cin * k * k), k
      self.demodulate, self.upsample = demodulate, upsample
      self.register_buffer("blur", blur_kernel(4.0), persistent=False)

    def forward(self, x, style):
      b, cin, h, w = x.shape
      s = self.modulation(style)  # (B, I)
      weight = self.weight * self.scale  # (O, I, k, k)
      if modconv == "grouped":  # per-sample weights, one grouped convolution
        weight = weight[None] * s[:, None, :, None, None]
        if self.demodulate:
          weight = weight * torch.rsqrt(weight.square().sum((2, 3, 4)) + 1e-8)[..., None, None,
                                                                               None]
        cout = weight.shape[1]
        x = x.reshape(1, b * cin, h, w)
        if self.upsample:
          weight = weight.transpose(1, 2).reshape(b * cin, cout, self.k, self.k)
          y = F.conv_transpose2d(x, weight, stride=2, groups=b)
          y = upfirdn2d(y.reshape(b, cout, *y.shape[2:]), self.blur, pad=(1, 1))
        else:
          y = F.conv2d(x, weight.reshape(b * cout, cin, self.k, self.k), padding=self.k // 2,
                       groups=b)
          y = y.reshape(b, cout, h, w)
        return y
      x = x * s[:, :, None, None]
      if self.upsample:
        y = upfirdn2d(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2), self.blur,
                      pad=(1, 1))
      else:
        y = F.conv2d(x, weight, padding=self.k // 2)
      if self.demodulate:
        demod = torch.rsqrt(s.square() @ weight.square().sum((2, 3)).t() + 1e-8)  # (B, O)
        y = y * demod[:, :, None, None]
      return y

  class StyledConv(nn.Module):
    def __init__(self, cin, cout, style_dim, upsample=False):
      super().__init__()
      self.conv = ModulatedConv(cin, cout, 3, style_dim, upsample=upsample)
      self.noise_strength = nn.Parameter(torch.zeros(1))
      self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x, style, noise):
      return fused_lrelu(self.conv(x, style) + self.noise_strength * noise, self.bias)

  class ToRGB(nn.Module):
    def __init__(self, cin, style_dim):
      super().__init__()
      self.conv = ModulatedConv(cin, 3, 1, style_dim, demodulate=False)
      self.bias = nn.Parameter(torch.zeros(3))
      self.register_buffer("blur", blur_kernel(4.0), persistent=False)

    def forward(self, x, style, skip=None):
      y = self.conv(x, style) + self.bias.view(1, 3, 1, 1)
      if skip is not None:
        y = y + upfirdn2d(skip, self.blur, up=2, pad=(2, 1))
      return y

  class Generator(nn.Module):
    def __init__(self):
      super().__init__()
      d, ch = spec.style_dim, spec.channels
      self.mapping = nn.ModuleList(EqualLinear(d, d, activation=True, lr_mul=spec.lr_mul)
                                   for _ in range(spec.mapping_layers))
      self.input = nn.Parameter(torch.randn(1, ch[0], 4, 4))
      self.conv1 = StyledConv(ch[0], ch[0], d)
      self.to_rgb1 = ToRGB(ch[0], d)
      self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
      for cin, cout in zip(ch[:-1], ch[1:]):
        self.convs.append(StyledConv(cin, cout, d, upsample=True))
        self.convs.append(StyledConv(cout, cout, d))
        self.to_rgbs.append(ToRGB(cout, d))

    def map(self, z):
      h = z * torch.rsqrt(z.square().mean(-1, keepdim=True) + 1e-8)
      for layer in self.mapping:
        h = layer(h)
      return h

    def forward(self, z, rng: random.Random, mixing: float):
      """z (2n, D): n images, the second n latents mixed in from a random layer on."""
      n, layers = z.shape[0] // 2, spec.n_latent
      w = self.map(z)
      cutoff = rng.randrange(1, layers) if rng.random() < mixing else layers
      ws = torch.cat([w[:n, None].expand(n, cutoff, -1),
                      w[n:, None].expand(n, layers - cutoff, -1)], 1)
      noise = [torch.randn(n, 1, h, w_, device=z.device) for h, w_ in spec.noise_shapes]
      return self.synthesis(ws, noise)

    def synthesis(self, ws, noise):
      """Styles (n, n_latent, D) and noise inputs (n, 1, H, W) -> images (n, 3, R, R)."""
      n = ws.shape[0]
      x = self.conv1(self.input.expand(n, -1, -1, -1), ws[:, 0], noise[0])
      skip = self.to_rgb1(x, ws[:, 1])
      for b, rgb in enumerate(self.to_rgbs):
        x = self.convs[2 * b](x, ws[:, 1 + 2 * b], noise[1 + 2 * b])
        x = self.convs[2 * b + 1](x, ws[:, 2 + 2 * b], noise[2 + 2 * b])
        skip = rgb(x, ws[:, 3 + 2 * b], skip)
      return skip

  class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k, downsample=False, activate=True):
      super().__init__()
      self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
      self.bias = nn.Parameter(torch.zeros(cout)) if activate else None
      self.scale, self.k, self.downsample = 1.0 / math.sqrt(cin * k * k), k, downsample
      p = 4 - 2 + k - 1
      self.pad = ((p + 1) // 2, p // 2)
      self.register_buffer("blur", blur_kernel(), persistent=False)

    def forward(self, x):
      weight = self.weight * self.scale
      if self.downsample:
        y = F.conv2d(upfirdn2d(x, self.blur, pad=self.pad), weight, stride=2)
      else:
        y = F.conv2d(x, weight, padding=self.k // 2)
      return y if self.bias is None else fused_lrelu(y, self.bias)

  class ResBlock(nn.Module):
    def __init__(self, cin, cout):
      super().__init__()
      self.conv1 = ConvLayer(cin, cin, 3)
      self.conv2 = ConvLayer(cin, cout, 3, downsample=True)
      self.skip = ConvLayer(cin, cout, 1, downsample=True, activate=False)

    def forward(self, x):
      return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)

  class Discriminator(nn.Module):
    def __init__(self):
      super().__init__()
      widths = spec.channels[::-1]
      self.convs_0 = ConvLayer(3, widths[0], 1)
      self.blocks = nn.Sequential(*(ResBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
      self.final_conv = ConvLayer(widths[-1] + 1, widths[-1], 3)
      self.final_linear = nn.Sequential(EqualLinear(widths[-1] * 16, widths[-1], True),
                                        EqualLinear(widths[-1], 1))

    def forward(self, x):
      x = self.blocks(self.convs_0(x))
      b, c, h, w = x.shape
      group = min(4, b)
      std = torch.sqrt(x.reshape(group, b // group, c, h, w).var(0, unbiased=False) + 1e-8)
      std = std.mean((1, 2, 3)).repeat(group).view(b, 1, 1, 1).expand(b, 1, h, w)
      x = self.final_conv(torch.cat([x, std], 1))
      return self.final_linear(x.reshape(b, -1))[:, 0]

  return Generator, Discriminator
