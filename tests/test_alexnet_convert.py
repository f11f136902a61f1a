"""AlexNet encoder and the torchvision converter, against a NumPy float64 forward pass that
follows torch's conventions (NCHW, (O, I, kh, kw) kernels, (C, H, W) flattening), and, when torch
is installed, against torch itself on a real .pth file."""
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


def test_real_pth_file_matches_torch(encoder_and_params, tmp_path):
  torch = pytest.importorskip("torch")
  model, params = encoder_and_params
  torch.manual_seed(0)
  c = CHANNELS

  class TorchvisionLayout(torch.nn.Module):
    """torchvision.models.AlexNet's modules and state-dict keys, with narrow widths."""

    def __init__(self):
      super().__init__()
      nn = torch.nn
      self.features = nn.Sequential(
          nn.Conv2d(3, c[0], 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
          nn.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
          nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(),
          nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(),
          nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
      self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
      self.classifier = nn.Sequential(
          nn.Dropout(), nn.Linear(c[4] * 36, FC[0]), nn.ReLU(), nn.Dropout(),
          nn.Linear(FC[0], FC[1]), nn.ReLU(), nn.Linear(FC[1], 10))

    def fc7(self, x):
      x = torch.flatten(self.avgpool(self.features(x)), 1)
      return self.classifier[:6](x)

  net = TorchvisionLayout().eval()
  torch.save(net.state_dict(), tmp_path / "alexnet.pth")
  converted = load_torchvision_alexnet(params, tmp_path / "alexnet.pth")
  images = np.random.default_rng(3).random((2, 227, 227, 3)).astype(np.float32)
  normalised = (images - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
  with torch.no_grad():
    fc7 = net.fc7(torch.from_numpy(normalised.transpose(0, 3, 1, 2).copy())).double().numpy()
  want = fc7 @ np.asarray(params["head"]["kernel"], np.float64) + params["head"]["bias"]
  got = model.apply({"params": converted}, images)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
