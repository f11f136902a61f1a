"""AlexNet encoder and the torchvision converter, against a NumPy float64 forward pass that
follows torch's conventions (NCHW, (O, I, kh, kw) kernels, cross-correlation, (C, H, W)
flattening), itself checked against those definitions written as loops. No torch needed: a state
dict is plain arrays (or tensors, duck-typed here); reading a .pth file is torch's job."""
import collections
import itertools
import sys

import jax
import numpy as np
import pytest

from inverse3d.models.alexnet import (CONV_LAYERS, DENSE_LAYERS, IMAGENET_MEAN, IMAGENET_STD,
                                      AlexNetEncoder, load_torchvision_alexnet)

CHANNELS = (4, 6, 8, 6, 5)  # narrow, same layout as ImageNet's 64-192-384-256-256
FC = (7, 6)
FEATURES = 3


@pytest.fixture(scope="module")
def encoder_and_params():
  model = AlexNetEncoder(FEATURES, channels=CHANNELS, fc=FC)
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 227, 227, 3), np.float32))
  params = jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(np.float32),
                        shapes["params"])
  return model, params


def torchvision_state_dict(seed=1) -> dict:
  """A torchvision-alexnet-style state dict (NumPy arrays) with this file's narrow widths."""
  rng = np.random.default_rng(seed)
  state, cin = {}, 3
  for (_, key, k, *_), cout in zip(CONV_LAYERS, CHANNELS):
    state[key + ".weight"] = rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)
    state[key + ".bias"] = 0.1 * rng.standard_normal(cout)
    cin = cout
  din = CHANNELS[-1] * 36
  for (_, key), dout in zip(DENSE_LAYERS, FC):
    state[key + ".weight"] = rng.standard_normal((dout, din)) / np.sqrt(din)
    state[key + ".bias"] = 0.1 * rng.standard_normal(dout)
    din = dout
  state["classifier.6.weight"] = rng.standard_normal((10, din))  # ImageNet classes: ignored
  state["classifier.6.bias"] = np.zeros(10)
  return {k: v.astype(np.float32) for k, v in state.items()}


def conv_nchw(x, w, b, stride, pad):
  """Cross-correlation as torch.nn.Conv2d: x (N, C, H, W), w (O, C, k, k)."""
  k = w.shape[-1]
  x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
  return np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]


def max_pool_nchw(x):
  win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
  return win.max(axis=(-1, -2))


def reference_fc7(state, images):
  """torchvision AlexNet up to fc7 + ReLU, in float64: images (N, 227, 227, 3) in [0, 1]."""
  x = ((images - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(0, 3, 1, 2)
  s = {k: np.asarray(v, np.float64) for k, v in state.items()}
  for _, key, _, stride, pad, pool in CONV_LAYERS:
    x = np.maximum(conv_nchw(x, s[key + ".weight"], s[key + ".bias"], stride, pad), 0)
    if pool:
      x = max_pool_nchw(x)
  assert x.shape[1:] == (CHANNELS[-1], 6, 6)
  h = x.reshape(len(x), -1)  # torch flattens (C, H, W)
  for _, key in DENSE_LAYERS:
    h = np.maximum(h @ s[key + ".weight"].T + s[key + ".bias"], 0)
  return h


def test_converted_encoder_matches_numpy_torch_semantics(encoder_and_params):
  model, params = encoder_and_params
  state = torchvision_state_dict()
  converted = load_torchvision_alexnet(params, state)
  np.testing.assert_array_equal(converted["head"]["kernel"], params["head"]["kernel"])
  images = np.random.default_rng(2).random((2, 227, 227, 3))
  got = np.asarray(model.apply({"params": converted}, images.astype(np.float32)))
  head = {k: np.asarray(v, np.float64) for k, v in params["head"].items()}
  want = reference_fc7(state, images) @ head["kernel"] + head["bias"]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_npz_file_loads_like_the_dict(encoder_and_params, tmp_path):
  _, params = encoder_and_params
  state = torchvision_state_dict()
  np.savez(tmp_path / "alexnet.npz", **state)
  from_file = load_torchvision_alexnet(params, tmp_path / "alexnet.npz")
  from_dict = load_torchvision_alexnet(params, state)
  for a, b in zip(jax.tree.leaves(from_file), jax.tree.leaves(from_dict)):
    np.testing.assert_array_equal(a, b)


def test_bad_state_dicts_raise_clear_errors(encoder_and_params, tmp_path):
  _, params = encoder_and_params
  state = torchvision_state_dict()
  wrong = {**state, "features.3.weight": np.zeros((6, 4, 3, 3), np.float32)}
  with pytest.raises(ValueError, match=r"state_dict\['features.3.weight'\]: expected shape "
                                       r"\(6, 4, 5, 5\), got \(6, 4, 3, 3\)"):
    load_torchvision_alexnet(params, wrong)
  missing = {k: v for k, v in state.items() if not k.startswith("classifier.4")}
  with pytest.raises(ValueError, match=r"expected key 'classifier.4.weight' of a torchvision"):
    load_torchvision_alexnet(params, missing)
  with pytest.raises(FileNotFoundError, match=r"state_dict: expected an existing file"):
    load_torchvision_alexnet(params, tmp_path / "absent.pth")


def test_wrong_image_size_is_refused(encoder_and_params):
  model, params = encoder_and_params
  with pytest.raises(ValueError, match=r"images: expected shape \(N, 227, 227, 3\), got "
                                       r"\(1, 224, 224, 3\)"):
    model.apply({"params": params}, np.zeros((1, 224, 224, 3), np.float32))


def test_numpy_reference_follows_torch_definitions():
  """conv_nchw and max_pool_nchw against torch.nn.Conv2d's and MaxPool2d's definitions:
  out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] x[n, c, s i + u - p, s j + v - p]."""
  rng = np.random.default_rng(4)
  x, w, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
  stride, pad = 2, 1
  padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  want = np.zeros((2, 4, 5, 4))
  for n, o, i, j in itertools.product(*map(range, want.shape)):
    want[n, o, i, j] = b[o] + np.sum(w[o] * padded[n, :, stride * i:stride * i + 3,
                                                   stride * j:stride * j + 3])
  np.testing.assert_allclose(conv_nchw(x, w, b, stride, pad), want, rtol=1e-12)
  pooled = np.array([[[[x[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(3)]
                       for i in range(4)] for c in range(3)] for n in range(2)])
  np.testing.assert_array_equal(max_pool_nchw(x), pooled)


class Tensor:
  """What read_state_dict uses of a torch tensor (``detach().cpu().numpy()``)."""

  def __init__(self, array):
    self.array = array

  def detach(self):
    return self

  def cpu(self):
    return self

  def numpy(self):
    return self.array


def test_state_dict_of_tensors_converts_to_torchs_fc7(encoder_and_params):
  """A state dict as torch.load returns it (an OrderedDict of tensors, in module order, the
  ImageNet classifier included) against the float64 reference on other weights and images."""
  model, params = encoder_and_params
  state = torchvision_state_dict(seed=5)
  tensors = collections.OrderedDict((k, Tensor(v)) for k, v in state.items())
  converted = load_torchvision_alexnet(params, tensors)
  images = np.random.default_rng(6).random((3, 227, 227, 3))
  got = np.asarray(model.apply({"params": converted}, images.astype(np.float32)))
  head = {k: np.asarray(v, np.float64) for k, v in params["head"].items()}
  want = reference_fc7(state, images) @ head["kernel"] + head["bias"]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_pth_file_without_torch_names_the_alternatives(encoder_and_params, tmp_path,
                                                       monkeypatch):
  _, params = encoder_and_params
  (tmp_path / "alexnet.pth").write_bytes(b"not read")
  monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails, torch installed or not
  with pytest.raises(ImportError, match=r"state_dict: reading alexnet.pth needs torch .*\.npz"):
    load_torchvision_alexnet(params, tmp_path / "alexnet.pth")
