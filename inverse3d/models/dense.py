"""Dense components: the paper's linear and feed-forward (FF) encoders, mappings and decoders.

One module serves every dense row of Table 1: a 2D encoder 1024-60 is ``MLP((60,))`` on
(N, 32, 32, 1) images, an FF mapping 60-100-98 is ``MLP((98,), hidden=(100,))``, a linear voxel
decoder 400-27000 is ``MLP((30, 30, 30), activation="identity")``. With ``activation="identity"``
the whole stack is linear (Table 1's linear mapping 60-100-400 keeps its 100-wide hidden layer).

A linear component without hidden layers can be initialised from a PCA basis (section 4.1: a
linear autoencoder with L2 loss spans the PCA subspace): :func:`pca_encoder_params` and
:func:`pca_decoder_params`.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_choice, check_shape

ACTIVATIONS = {
    "identity": lambda x: x,
    "relu": nn.relu,
    "elu": nn.elu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
}


def activation(name: str, arg: str = "activation"):
  """The activation called ``name`` (a key of ``ACTIVATIONS``); ``arg`` names it in errors."""
  check_choice(arg, name, sorted(ACTIVATIONS))
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Flattens each sample, applies Dense layers, reshapes: (N, *any) -> (N, *out_shape).

  Attributes:
    out_shape: per-sample output shape, e.g. (60,) for a code or (V, 3) for a point cloud.
    hidden: widths of the hidden layers (Table 1's middle numbers); () is a single Dense layer.
    activation: applied after every hidden layer; "identity" makes the stack linear.
    out_activation: applied to the output ("sigmoid" keeps voxels and images in (0, 1)).
  Parameters are ``hidden_i/{kernel,bias}`` and ``out/{kernel (d_in, prod(out_shape)), bias}``.
  """
  out_shape: Sequence[int]
  hidden: Sequence[int] = ()
  activation: str = "relu"
  out_activation: str = "identity"

  @nn.compact
  def __call__(self, x):
    act = activation(self.activation)
    out_act = activation(self.out_activation, "out_activation")
    h = jnp.reshape(x, (x.shape[0], -1))
    for i, width in enumerate(self.hidden):
      h = act(nn.Dense(width, name=f"hidden_{i}")(h))
    h = nn.Dense(math.prod(self.out_shape), name="out")(h)
    return jnp.reshape(out_act(h), (x.shape[0], *self.out_shape))


def _flat_basis(mean, components):
  components = np.asarray(components, np.float32)
  check_shape("components", components, ("k", "d"))
  mean = np.asarray(mean, np.float32).reshape(-1)
  check_shape("mean", mean, (components.shape[1],))
  return mean, components


def pca_encoder_params(mean, components) -> dict:
  """Params of a hidden-less linear ``MLP`` computing ``y = (x - mean) @ components.T``.

  Args:
    mean: (d,) or any shape with d entries (e.g. (V, 3)); the data mean.
    components: (k, d) basis rows (orthonormal for PCA).
  Returns:
    ``{"out": {"kernel": (d, k), "bias": (k,)}}``.
  """
  mean, components = _flat_basis(mean, components)
  return {"out": {"kernel": components.T.copy(), "bias": -(mean @ components.T)}}


def pca_decoder_params(mean, components) -> dict:
  """Params of a hidden-less linear ``MLP`` computing ``z = mean + y @ components``.

  Args:
    mean: (d,) or any shape with d entries; components: (k, d).
  Returns:
    ``{"out": {"kernel": (k, d), "bias": (d,)}}``.
  """
  mean, components = _flat_basis(mean, components)
  return {"out": {"kernel": components.copy(), "bias": mean}}
