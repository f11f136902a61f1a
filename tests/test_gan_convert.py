"""rosinality stylegan2-pytorch -> generator dict converter (inverse3d.gan.convert), against a
NumPy float64 forward pass written here in rosinality's own layout and formulas (NCHW, weights
(out, in) and (1, O, I, k, k), per-sample modulated weights, transposed convolution as explicit
loops, upfirdn2d as zero insertion, padding and a flipped-kernel correlation), on a random state
dict of a small generator. Every converted layer and the whole image are compared in float64
with both convolution implementations. No torch: a state dict is a dict of NumPy arrays."""
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.gan import layers
from inverse3d.gan.convert import from_rosinality, read_rosinality_pt
from inverse3d.gan.export import flatten, load_generator, save_generator
from inverse3d.gan.generator import generate, mapping_module, spec_of
from inverse3d.gan.layers import EqualLinear, StyledConv, ToRGB
from inverse3d.gan.networks import GeneratorSpec

SIZE, STYLE_DIM, N_MLP, LR_MLP, BATCH = 16, 32, 3, 0.01, 2
CHANNELS = {4: 32, 8: 32, 16: 16}
N_LATENT = 6  # log2(SIZE) * 2 - 2
NOISE_SIDES = (4, 8, 8, 16, 16)  # noise_i: (layer_idx + 5) // 2 = log2 side
RTOL = 1e-9
IMPLS = ("native", "matmul")

BLUR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0])
BLUR = BLUR / BLUR.sum() * 4  # make_kernel(blur_kernel) * factor ** 2: Blur(up 2), Upsample


def rosinality_state_dict(seed=0) -> dict:
  """A random rosinality ``Generator(16, 32, 3, lr_mlp=0.01)``-layout state dict (float64),
  with non-trivial biases and noise strengths (rosinality starts these at 0 or 1)."""
  rng = np.random.default_rng(seed)
  n, d = rng.standard_normal, STYLE_DIM
  state = {}
  for i in range(1, N_MLP + 1):
    state[f"style.{i}.weight"] = n((d, d)) / LR_MLP  # stored as randn / lr_mul
    state[f"style.{i}.bias"] = 10 * n(d)  # applied times lr_mul: 0.1 scale
  state["input.input"] = n((1, CHANNELS[4], 4, 4))

  def modulated(prefix, cin, cout, k):
    state[f"{prefix}.conv.weight"] = n((1, cout, cin, k, k))
    state[f"{prefix}.conv.modulation.weight"] = n((cin, d))
    state[f"{prefix}.conv.modulation.bias"] = 1 + 0.2 * n(cin)

  def styled(prefix, cin, cout, upsample=False):
    modulated(prefix, cin, cout, 3)
    state[f"{prefix}.noise.weight"] = 0.2 + 0.5 * rng.random(1)
    state[f"{prefix}.activate.bias"] = 0.2 * n(cout)
    if upsample:
      state[f"{prefix}.conv.blur.kernel"] = BLUR.copy()

  def to_rgb(prefix, cin, upsample=True):
    modulated(prefix, cin, 3, 1)
    state[f"{prefix}.bias"] = 0.2 * n((1, 3, 1, 1))
    if upsample:
      state[f"{prefix}.upsample.kernel"] = BLUR.copy()

  styled("conv1", CHANNELS[4], CHANNELS[4])
  to_rgb("to_rgb1", CHANNELS[4], upsample=False)
  sides = sorted(CHANNELS)
  for b, (lo, hi) in enumerate(zip(sides[:-1], sides[1:])):
    styled(f"convs.{2 * b}", CHANNELS[lo], CHANNELS[hi], upsample=True)
    styled(f"convs.{2 * b + 1}", CHANNELS[hi], CHANNELS[hi])
    to_rgb(f"to_rgbs.{b}", CHANNELS[hi])
  for i, side in enumerate(NOISE_SIDES):
    state[f"noises.noise_{i}"] = n((1, 1, side, side))
  return state


# ---- rosinality's forward pass in NumPy float64, NCHW ----

def lrelu(x):
  """fused_leaky_relu's activation (the bias added before): leaky_relu(x, 0.2) * sqrt(2)."""
  return np.where(x >= 0, x, 0.2 * x) * np.sqrt(2)


def equal_linear(x, weight, bias, lr_mul=1.0, activation=False):
  """EqualLinear: F.linear(x, weight * lr_mul / sqrt(in)) + bias * lr_mul (then lrelu)."""
  out = x @ (weight * (lr_mul / np.sqrt(weight.shape[1]))).T + bias * lr_mul
  return lrelu(out) if activation else out


def pixel_norm(z):
  return z / np.sqrt(np.mean(z ** 2, axis=1, keepdims=True) + 1e-8)


def upfirdn2d(x, kernel, up=1, pad=(0, 0)):
  """upfirdn2d_native (down 1): zero insertion, zero padding, correlation with the flipped
  kernel, on (N, C, H, W)."""
  n, c, h, w = x.shape
  zeros = np.zeros((n, c, h * up, w * up))
  zeros[:, :, ::up, ::up] = x
  x = np.pad(zeros, ((0, 0), (0, 0), pad, pad))
  kh, kw = kernel.shape
  flipped = kernel[::-1, ::-1]
  oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
  return sum(flipped[i, j] * x[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw))


def conv2d_per_sample(x, weight, padding):
  """conv2d(groups=batch): x (N, I, H, W), weight (N, O, I, k, k), cross-correlation."""
  k = weight.shape[-1]
  x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
  windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
  return np.einsum("nihwyx,noiyx->nohw", windows, weight)


def conv_transpose2d_stride2(x, weight):
  """conv_transpose2d(stride=2, padding=0, groups=batch): x (N, I, H, W), weight (N, I, O, k, k)
  (PyTorch's (in, out, k, k) per sample): input pixel (m, q) adds its weighted kernel at
  (2m, 2q). Output side 2 (H - 1) + k."""
  n, _, h, w = x.shape
  k, o = weight.shape[-1], weight.shape[2]
  out = np.zeros((n, o, 2 * (h - 1) + k, 2 * (w - 1) + k))
  for m in range(h):
    for q in range(w):
      out[:, :, 2 * m:2 * m + k, 2 * q:2 * q + k] += np.einsum("ni,nioyx->noyx", x[:, :, m, q],
                                                               weight)
  return out


def modulated_conv(state, prefix, x, style, demodulate=True, upsample=False):
  """ModulatedConv2d, fused: per-sample weight scale * weight * style, demodulated."""
  weight = state[f"{prefix}.conv.weight"]  # (1, O, I, k, k)
  _, _, cin, k, _ = weight.shape
  s = equal_linear(style, state[f"{prefix}.conv.modulation.weight"],
                   state[f"{prefix}.conv.modulation.bias"])  # (N, I)
  weight = weight / np.sqrt(cin * k * k) * s[:, None, :, None, None]  # (N, O, I, k, k)
  if demodulate:
    weight = weight / np.sqrt((weight ** 2).sum((2, 3, 4)) + 1e-8)[:, :, None, None, None]
  if upsample:
    out = conv_transpose2d_stride2(x, weight.transpose(0, 2, 1, 3, 4))
    return upfirdn2d(out, state[f"{prefix}.conv.blur.kernel"], pad=(1, 1))
  return conv2d_per_sample(x, weight, k // 2)


def styled_conv(state, prefix, x, style, noise, upsample=False):
  """StyledConv: modulated conv, NoiseInjection (x + weight * noise), FusedLeakyReLU."""
  out = modulated_conv(state, prefix, x, style, upsample=upsample)
  out = out + state[f"{prefix}.noise.weight"] * noise
  return lrelu(out + state[f"{prefix}.activate.bias"][None, :, None, None])


def to_rgb(state, prefix, x, style, skip=None):
  """ToRGB: 1x1 modulated conv (no demodulation) + bias, + Upsample(skip) (pad (2, 1))."""
  out = modulated_conv(state, prefix, x, style, demodulate=False) + state[f"{prefix}.bias"]
  if skip is not None:
    out = out + upfirdn2d(skip, state[f"{prefix}.upsample.kernel"], up=2, pad=(2, 1))
  return out


def mapping(state, z):
  h = pixel_norm(z)
  for i in range(1, N_MLP + 1):
    h = equal_linear(h, state[f"style.{i}.weight"], state[f"style.{i}.bias"], LR_MLP, True)
  return h


def generator_forward(state, z, truncation=1.0, truncation_latent=None):
  """Generator.forward([z], randomize_noise=False, truncation=...): the image (N, 3, R, R)."""
  w = mapping(state, z)
  if truncation < 1:
    w = truncation_latent + truncation * (w - truncation_latent)
  latent = np.repeat(w[:, None], N_LATENT, axis=1)
  noise = [state[f"noises.noise_{i}"] for i in range(len(NOISE_SIDES))]
  out = np.repeat(state["input.input"], z.shape[0], axis=0)
  out = styled_conv(state, "conv1", out, latent[:, 0], noise[0])
  skip = to_rgb(state, "to_rgb1", out, latent[:, 1])
  for b in range(len(CHANNELS) - 1):
    i = 1 + 2 * b
    out = styled_conv(state, f"convs.{2 * b}", out, latent[:, i], noise[i], upsample=True)
    out = styled_conv(state, f"convs.{2 * b + 1}", out, latent[:, i + 1], noise[i + 1])
    skip = to_rgb(state, f"to_rgbs.{b}", out, latent[:, i + 2], skip)
  return skip


# ---- tests ----

@pytest.fixture(scope="module")
def state():
  return rosinality_state_dict()


@pytest.fixture(scope="module")
def generator(state):
  return from_rosinality(state, dtype=np.float64)


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def nhwc(x):
  return jnp.asarray(np.asarray(x).transpose(0, 2, 3, 1))


def assert_close(got_nhwc, want_nchw, what):
  got = np.asarray(got_nhwc, np.float64)
  got = got.transpose(0, 3, 1, 2) if got.ndim == 4 else got
  assert got.shape == want_nchw.shape, what
  assert got.dtype == np.float64
  err = np.max(np.abs(got - want_nchw)) / np.max(np.abs(want_nchw))
  assert err < RTOL, f"{what}: relative error {err:.3g}"


def test_reference_transposed_conv_is_zero_insertion_and_correlation():
  """The loop definition of conv_transpose2d equals zero insertion, padding k - 1 and
  correlation with the spatially flipped, in/out-swapped kernel."""
  rng = np.random.default_rng(5)
  x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 3, 3))
  zeros = np.zeros((2, 3, 7, 9))
  zeros[:, :, ::2, ::2] = x
  direct = conv2d_per_sample(np.pad(zeros, ((0, 0), (0, 0), (2, 2), (2, 2))),
                             w[..., ::-1, ::-1].transpose(0, 2, 1, 3, 4), 0)
  np.testing.assert_allclose(conv_transpose2d_stride2(x, w), direct, rtol=1e-12, atol=1e-12)


def test_spec_and_shapes(state, generator):
  assert spec_of(generator) == GeneratorSpec(SIZE, (32, 32, 16), STYLE_DIM, N_MLP, LR_MLP)
  assert [n.shape for n in generator["noise"]] == [(s, s) for s in NOISE_SIDES]
  np.testing.assert_array_equal(generator["noise"][3], state["noises.noise_3"][0, 0])
  np.testing.assert_array_equal(generator["w_avg"], np.zeros(STYLE_DIM))
  assert generator["synthesis"]["input"].shape == (4, 4, 32)


def test_mapping_layers(state, generator, x64):
  rng = np.random.default_rng(1)
  for i in range(1, N_MLP + 1):
    h = rng.standard_normal((BATCH, STYLE_DIM))
    got = EqualLinear(STYLE_DIM, activation=True, lr_mul=LR_MLP).apply(
        {"params": generator["mapping"][f"style_{i}"]}, jnp.asarray(h))
    want = equal_linear(h, state[f"style.{i}.weight"], state[f"style.{i}.bias"], LR_MLP, True)
    assert_close(got, want, f"style_{i}")
  z = rng.standard_normal((BATCH, STYLE_DIM))
  got = mapping_module(spec_of(generator)).apply({"params": generator["mapping"]}, jnp.asarray(z))
  assert_close(got, mapping(state, z), "mapping")


# (flax name, rosinality prefix, kind, input side, in channels, noise index)
SYNTHESIS_LAYERS = (
    ("conv1", "conv1", "conv", 4, 32, 0), ("to_rgb1", "to_rgb1", "rgb", 4, 32, None),
    ("convs_0", "convs.0", "up", 4, 32, 1), ("convs_1", "convs.1", "conv", 8, 32, 2),
    ("to_rgbs_0", "to_rgbs.0", "rgb", 8, 32, None),
    ("convs_2", "convs.2", "up", 8, 32, 3), ("convs_3", "convs.3", "conv", 16, 16, 4),
    ("to_rgbs_1", "to_rgbs.1", "rgb", 16, 16, None))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name,prefix,kind,side,cin,noise_index", SYNTHESIS_LAYERS,
                         ids=[layer[0] for layer in SYNTHESIS_LAYERS])
def test_synthesis_layer(state, generator, x64, impl, name, prefix, kind, side, cin, noise_index):
  rng = np.random.default_rng(sum(map(ord, name)))
  x = rng.standard_normal((BATCH, cin, side, side))
  style = rng.standard_normal((BATCH, STYLE_DIM))
  params = {"params": generator["synthesis"][name]}
  with layers.conv_impl(impl):
    if kind == "rgb":
      skip = rng.standard_normal((BATCH, 3, side // 2, side // 2)) if side > 4 else None
      got = ToRGB().apply(params, nhwc(x), jnp.asarray(style),
                          None if skip is None else nhwc(skip))
      want = to_rgb(state, prefix, x, style, skip)
    else:
      up = kind == "up"
      cout = state[f"{prefix}.activate.bias"].shape[0]
      noise = generator["noise"][noise_index][None, :, :, None]
      got = StyledConv(cout, upsample=up).apply(params, nhwc(x), jnp.asarray(style),
                                                jnp.asarray(noise))
      want = styled_conv(state, prefix, x, style, state[f"noises.noise_{noise_index}"], up)
  assert_close(got, want, f"{name} ({impl})")


@pytest.mark.parametrize("impl", IMPLS)
def test_whole_generator(state, x64, impl):
  rng = np.random.default_rng(2)
  z = rng.standard_normal((BATCH, STYLE_DIM))
  mean_latent = mapping(state, rng.standard_normal((64, STYLE_DIM))).mean(0, keepdims=True)
  converted = from_rosinality(state, w_avg=mean_latent, dtype=np.float64)
  assert converted["w_avg"].shape == (STYLE_DIM,)
  with layers.conv_impl(impl):
    got = generate(converted, jnp.asarray(z), noise="const")
    truncated = generate(converted, jnp.asarray(z), truncation=0.7, noise="const")
  assert_close(got, generator_forward(state, z), f"image ({impl})")
  assert_close(truncated, generator_forward(state, z, 0.7, mean_latent), f"truncated ({impl})")


def _raises(state, message):
  with pytest.raises(ValueError, match=message):
    from_rosinality(state)


def test_bad_state_dicts(state):
  bad = dict(state)
  del bad["convs.1.noise.weight"]
  _raises(bad, r"^state_dict: missing key 'convs\.1\.noise\.weight'")
  _raises({"g_ema": state}, r"missing key 'style\.1\.weight'.*checkpoint\['g_ema'\]")
  _raises({**state, "convs.1.extra": np.zeros(1)}, r"unexpected keys \['convs\.1\.extra'\]")
  _raises({**state, "convs.3.conv.weight": np.zeros((1, 16, 8, 3, 3))},
          re.escape("state_dict['convs.3.conv.weight']: expected shape (1, 16, 16, 3, 3), "
                    "got (1, 16, 8, 3, 3)"))
  _raises({**state, "to_rgbs.0.bias": np.zeros(3)}, re.escape(
      "state_dict['to_rgbs.0.bias']: expected shape (1, 3, 1, 1), got (3,)"))
  for key, kernel in (("convs.2.conv.blur.kernel", BLUR / 4),  # gain 1, not 4
                      ("to_rgbs.1.upsample.kernel", np.outer([1, 2, 1], [1, 2, 1]) / 4.0)):
    _raises({**state, key: kernel},
            rf"^state_dict\['{re.escape(key)}'\]: .*a different blur kernel is not supported")
  with pytest.raises(ValueError, match=r"w_avg: expected shape \(32,\) or \(1, 32\), got \(16,\)"):
    from_rosinality(state, w_avg=np.zeros(16))


def test_save_load_round_trip(state, tmp_path):
  converted = from_rosinality(state)  # float32, as a real checkpoint
  path = save_generator(tmp_path / "g.npz", converted)
  loaded = load_generator(path)
  assert spec_of(loaded) == spec_of(converted)
  want, got = flatten(converted), flatten(loaded)
  assert sorted(got) == sorted(want)
  for key in want:
    assert got[key].dtype == np.float32, key
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_read_rosinality_pt_without_torch(tmp_path, monkeypatch):
  path = tmp_path / "550000.pt"
  path.write_bytes(b"not read")
  monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
  with pytest.raises(ImportError, match=r"read_rosinality_pt: reading .*550000\.pt needs torch"):
    read_rosinality_pt(path)
