"""AlexNet-style 2D encoder (section 5.6) and a converter for torchvision ImageNet weights.

The layer layout is torchvision's ``alexnet`` (Krizhevsky et al. 2012, single-tower variant):
five convolutions (11x11/4, 5x5, 3x3, 3x3, 3x3; 64, 192, 384, 256, 256 channels) with max
pooling 3/2 after the 1st, 2nd and 5th, then two 4096-wide dense layers (fc6, fc7). The 1000-way
classifier is replaced by a dense ``head`` to the code. On the paper's 227x227x3 input the last
feature map is 6x6x256, as torchvision's adaptive pooling expects, so ImageNet weights load
unchanged. Images in [0, 1] are normalised with the ImageNet mean and deviation inside the
module. No weights can be downloaded here: :func:`load_torchvision_alexnet` converts a state
dict that the user supplies (a .pth file, an .npz with the same keys, or a dict of arrays).
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_file, check_shape

INPUT_SHAPE = (227, 227, 3)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (our layer, torchvision state-dict prefix, kernel, stride, padding, max-pool after)
CONV_LAYERS = (
    ("conv1", "features.0", 11, 4, 2, True),
    ("conv2", "features.3", 5, 1, 2, True),
    ("conv3", "features.6", 3, 1, 1, False),
    ("conv4", "features.8", 3, 1, 1, False),
    ("conv5", "features.10", 3, 1, 1, True),
)
DENSE_LAYERS = (("fc6", "classifier.1"), ("fc7", "classifier.4"))


class AlexNetEncoder(nn.Module):
  """AlexNet features, fc6, fc7 and a dense head: (N, 227, 227, 3) in [0, 1] -> (N, features).

  Attributes:
    features: code size. channels: the five convolution widths. fc: fc6 and fc7 widths.
  Narrower ``channels``/``fc`` keep the layout (and the converter) but not ImageNet's sizes.
  """
  features: int
  channels: Sequence[int] = (64, 192, 384, 256, 256)
  fc: Sequence[int] = (4096, 4096)

  @nn.compact
  def __call__(self, x):
    check_shape("images", x, ("N", *INPUT_SHAPE))
    h = (x - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)
    for (name, _, k, stride, pad, pool), c in zip(CONV_LAYERS, self.channels):
      h = nn.relu(nn.Conv(c, (k, k), strides=stride, padding=((pad, pad), (pad, pad)),
                          name=name)(h))
      if pool:
        h = nn.max_pool(h, (3, 3), strides=(2, 2), padding="VALID")
    h = jnp.reshape(h, (h.shape[0], -1))
    for (name, _), width in zip(DENSE_LAYERS, self.fc):
      h = nn.relu(nn.Dense(width, name=name)(h))
    return nn.Dense(self.features, name="head")(h)


def read_state_dict(source) -> dict:
  """A torchvision state dict as ``{key: np.ndarray}``.

  ``source`` is a mapping of arrays or torch tensors, an ``.npz`` path, or a ``.pth`` path
  (read with ``torch.load``; needs torch).
  """
  if isinstance(source, Mapping):
    return {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
            for k, v in source.items()}
  path = check_file("state_dict", source,
                    "Save torchvision's alexnet(weights='IMAGENET1K_V1').state_dict() there")
  if path.endswith(".npz"):
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  try:
    import torch
  except ImportError as e:
    raise ImportError(f"state_dict: reading {os.path.basename(path)} needs torch "
                      f"(pip install torch); or pass an .npz or a dict of numpy arrays with the "
                      f"same keys") from e
  return read_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def _take(state: dict, key: str, shape) -> np.ndarray:
  if key not in state:
    raise ValueError(f"state_dict: expected key {key!r} of a torchvision AlexNet, got keys "
                     f"{sorted(state)[:12]}")
  check_shape(f"state_dict[{key!r}]", state[key], shape)
  return np.asarray(state[key], np.float32)


def load_torchvision_alexnet(params: dict, source) -> dict:
  """Returns ``params`` of an :class:`AlexNetEncoder` with conv1-5, fc6, fc7 from torchvision.

  Args:
    params: the encoder's params (conv*/fc*/head), whose shapes the state dict must match.
    source: see :func:`read_state_dict`; torchvision keys ``features.{0,3,6,8,10}`` and
      ``classifier.{1,4}``. ``classifier.6`` (ImageNet classes) is ignored; ``head`` is kept.
  Conversion: conv weights (O, I, kh, kw) -> (kh, kw, I, O); fc6 reads torch's (C, 6, 6)
  flattening order and is permuted to NHWC order (6, 6, C); dense weights are transposed.
  """
  state = read_state_dict(source)
  out = dict(params)
  for name, key, *_ in CONV_LAYERS:
    kh, kw, cin, cout = params[name]["kernel"].shape
    weight = _take(state, key + ".weight", (cout, cin, kh, kw))
    out[name] = {"kernel": weight.transpose(2, 3, 1, 0),
                 "bias": _take(state, key + ".bias", (cout,))}
  channels = params["conv5"]["kernel"].shape[-1]
  for i, (name, key) in enumerate(DENSE_LAYERS):
    din, dout = params[name]["kernel"].shape
    weight = _take(state, key + ".weight", (dout, din))
    if i == 0:
      side = int(round((din // channels) ** 0.5))
      weight = weight.reshape(dout, channels, side, side).transpose(0, 2, 3, 1).reshape(dout, din)
    out[name] = {"kernel": weight.T.copy(), "bias": _take(state, key + ".bias", (dout,))}
  return out
