"""rosinality's stylegan2-pytorch generator weights -> a generator dict (``inverse3d.gan``).

    state = read_rosinality_pt("550000.pt")         # checkpoint["g_ema"] as NumPy (needs torch)
    generator = from_rosinality(state)              # or a dict of NumPy arrays, same keys
    save_generator("ffhq256.npz", generator)        # inverse3d.gan.export; no torch from here on

The layers compute rosinality's functions (``inverse3d.gan.layers``); only the storage differs:
dense weights (out, in) -> (in, out), convolution weights (1, O, I, k, k) -> (k, k, I, O), the
constant input (1, C, 4, 4) -> (4, 4, C), noise buffers (1, 1, H, W) -> (H, W). The blur and
upsample kernels are buffers, not parameters: they are checked to be StyleGAN2's [1, 3, 3, 1]
filter (the only one the layers implement) and dropped. The mapping network's learning-rate
multiplier is not stored in a state dict: rosinality's default ``lr_mlp`` 0.01 is assumed.
"""
from __future__ import annotations

import argparse
import contextlib
import re
from typing import Mapping

import numpy as np

from inverse3d.checks import check_file, check_shape
from inverse3d.gan.layers import fir_kernel
from inverse3d.gan.networks import GeneratorSpec

_HINT = "a rosinality stylegan2-pytorch Generator state dict (checkpoint['g_ema'])"


def _get(state: dict, key: str, shape=None) -> np.ndarray:
  if key not in state:
    extra = " (pass checkpoint['g_ema'], not the whole checkpoint)" if "g_ema" in state else ""
    raise ValueError(f"state_dict: missing key {key!r} of {_HINT}{extra}; got keys "
                     f"{sorted(state)[:8]}{' ...' if len(state) > 8 else ''}")
  if shape is not None:
    check_shape(f"state_dict[{key!r}]", state[key], shape)
  return state[key]


def _count(state: dict, pattern: str) -> int:
  """How many distinct indices N (``pattern``'s group) the keys hold: layers or blocks."""
  found = {int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))}
  return len(found)


def infer_spec(state: dict) -> GeneratorSpec:
  """The architecture of a rosinality state dict, read from its keys and shapes."""
  layers = _count(state, r"style\.(\d+)\.weight")
  style_dim = _get(state, "style.1.weight", ("D", "D")).shape[0]
  channels = [_get(state, "input.input", (1, None, 4, 4)).shape[1]]
  for b in range(_count(state, r"to_rgbs\.(\d+)\.conv\.weight")):
    key = f"convs.{2 * b}.conv.weight"
    channels.append(_get(state, key, (1, None, channels[-1], 3, 3)).shape[1])
  try:
    return GeneratorSpec(4 * 2 ** (len(channels) - 1), tuple(int(c) for c in channels),
                         int(style_dim), layers)
  except ValueError as e:
    raise ValueError(f"state_dict: not a supported generator ({e})") from None


def expected_shapes(spec: GeneratorSpec) -> dict:
  """{rosinality key: shape} of every parameter and buffer of a ``spec`` generator."""
  d, c = spec.style_dim, spec.channels
  shapes = {}
  for i in range(1, spec.mapping_layers + 1):
    shapes.update({f"style.{i}.weight": (d, d), f"style.{i}.bias": (d,)})
  shapes["input.input"] = (1, c[0], 4, 4)

  def modulated(prefix, cin, cout, k):
    shapes.update({f"{prefix}.conv.weight": (1, cout, cin, k, k),
                   f"{prefix}.conv.modulation.weight": (cin, d),
                   f"{prefix}.conv.modulation.bias": (cin,)})

  def styled(prefix, cin, cout, upsample=False):
    modulated(prefix, cin, cout, 3)
    shapes.update({f"{prefix}.noise.weight": (1,), f"{prefix}.activate.bias": (cout,)})
    if upsample:
      shapes[f"{prefix}.conv.blur.kernel"] = (4, 4)

  def to_rgb(prefix, cin, upsample=True):
    modulated(prefix, cin, 3, 1)
    shapes[f"{prefix}.bias"] = (1, 3, 1, 1)
    if upsample:
      shapes[f"{prefix}.upsample.kernel"] = (4, 4)

  styled("conv1", c[0], c[0])
  to_rgb("to_rgb1", c[0], upsample=False)
  for b, (cin, cout) in enumerate(zip(c[:-1], c[1:])):
    styled(f"convs.{2 * b}", cin, cout, upsample=True)
    styled(f"convs.{2 * b + 1}", cout, cout)
    to_rgb(f"to_rgbs.{b}", cout)
  for i, hw in enumerate(spec.noise_shapes):
    shapes[f"noises.noise_{i}"] = (1, 1, *hw)
  return shapes


def _check_kernel(key: str, kernel: np.ndarray) -> None:
  """Blur / upsample buffers: the [1, 3, 3, 1] filter summing to 4 (factor 2 squared)."""
  want, kernel = fir_kernel(gain=4.0), np.asarray(kernel, np.float64)
  if kernel.shape != want.shape or not np.allclose(kernel, want, rtol=1e-5, atol=1e-7):
    raise ValueError(f"state_dict[{key!r}]: expected StyleGAN2's blur kernel "
                     f"outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64 * 4 {want.tolist()}, got "
                     f"{kernel.tolist()}; a different blur kernel is not supported")


def from_rosinality(state_dict: Mapping, *, w_avg=None, dtype=np.float32) -> dict:
  """A generator dict {"mapping", "synthesis", "noise", "w_avg"} from rosinality's keys.

  Args:
    state_dict: {key: array}, rosinality's ``Generator.state_dict()`` (``checkpoint["g_ema"]``)
      as NumPy arrays: ``style.N.weight`` (D, D), ``input.input`` (1, C, 4, 4), ``conv1.*``,
      ``to_rgb1.*``, ``convs.N.*``, ``to_rgbs.N.*``, ``noises.noise_N`` (1, 1, H, W).
      Resolution, widths, style size D and mapping depth are read from the shapes.
    w_avg: the truncation centre, (D,) or (1, D) (rosinality's ``mean_latent``, or
      ``latent_avg`` of its convert_weight.py files). None gives zeros: for truncation, set
      ``generator["w_avg"] = inverse3d.gan.generator.mean_w(generator, key)``.
    dtype: of the returned arrays.

  Raises ValueError naming the key for a missing or unexpected key, a wrong shape, or a blur
  kernel other than StyleGAN2's.
  """
  state = {str(k): np.asarray(v) for k, v in state_dict.items()}
  spec = infer_spec(state)
  shapes = expected_shapes(spec)
  unexpected = sorted(set(state) - set(shapes))
  if unexpected:
    raise ValueError(f"state_dict: unexpected keys {unexpected[:8]} for a {spec.resolution}x"
                     f"{spec.resolution} generator of {_HINT}")
  for key, shape in shapes.items():
    if key.endswith(("blur.kernel", "upsample.kernel")):
      _check_kernel(key, _get(state, key))
    else:
      _get(state, key, shape)

  def take(key):
    return state[key].astype(dtype)

  def modulated(prefix):
    return {"modulation": {"weight": take(f"{prefix}.conv.modulation.weight").T,
                           "bias": take(f"{prefix}.conv.modulation.bias")},
            "weight": take(f"{prefix}.conv.weight")[0].transpose(2, 3, 1, 0)}

  def styled(prefix):
    return {"conv": modulated(prefix), "noise_strength": take(f"{prefix}.noise.weight"),
            "bias": take(f"{prefix}.activate.bias")}

  def to_rgb(prefix):
    return {"conv": modulated(prefix), "bias": take(f"{prefix}.bias").reshape(3)}

  mapping = {f"style_{i}": {"weight": take(f"style.{i}.weight").T, "bias": take(f"style.{i}.bias")}
             for i in range(1, spec.mapping_layers + 1)}
  synthesis = {"input": take("input.input")[0].transpose(1, 2, 0),
               "conv1": styled("conv1"), "to_rgb1": to_rgb("to_rgb1")}
  for b in range(len(spec.channels) - 1):
    synthesis[f"convs_{2 * b}"] = styled(f"convs.{2 * b}")
    synthesis[f"convs_{2 * b + 1}"] = styled(f"convs.{2 * b + 1}")
    synthesis[f"to_rgbs_{b}"] = to_rgb(f"to_rgbs.{b}")
  noise = tuple(take(f"noises.noise_{i}")[0, 0] for i in range(len(spec.noise_shapes)))
  if w_avg is None:
    w_avg = np.zeros((spec.style_dim,), dtype)
  else:
    w_avg = np.asarray(w_avg, dtype)
    if w_avg.shape not in ((spec.style_dim,), (1, spec.style_dim)):
      raise ValueError(f"w_avg: expected shape ({spec.style_dim},) or (1, {spec.style_dim}), "
                       f"got {w_avg.shape}")
    w_avg = w_avg.reshape(spec.style_dim)
  return {"mapping": mapping, "synthesis": synthesis, "noise": noise, "w_avg": w_avg}


def read_rosinality_pt(path) -> dict:
  """``checkpoint["g_ema"]`` of a rosinality .pt file (train.py or convert_weight.py output;
  a bare generator state dict too) as {key: np.ndarray}. Needs torch, imported here only.

  Loaded with ``weights_only=True`` (no arbitrary unpickling), train.py's ``args`` Namespace
  allowed (torch >= 2.5). A convert_weight.py file's mean latent is its ``"latent_avg"``.
  """
  path = check_file("path", path, "a rosinality stylegan2-pytorch checkpoint (.pt)")
  try:
    import torch
  except ImportError as e:
    raise ImportError(f"read_rosinality_pt: reading {path} needs torch (pip install torch); "
                      f"or save checkpoint['g_ema'] as an .npz of NumPy arrays elsewhere and "
                      f"pass that dict to from_rosinality") from e
  safe = getattr(torch.serialization, "safe_globals", None)
  with safe([argparse.Namespace]) if safe else contextlib.nullcontext():
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
  state = checkpoint.get("g_ema", checkpoint)
  if not isinstance(state, Mapping) or "input.input" not in state:
    raise ValueError(f"{path}: expected {_HINT} or a checkpoint holding one under 'g_ema', "
                     f"got keys {sorted(checkpoint)[:8]}")
  return {k: v.detach().cpu().numpy() for k, v in state.items()}
