"""Closed-form image-to-shape regressions of section 4.1 (Table 2 of the paper).

- Low-dimensional LS (eqs 2-9): PCA codes y of the images and b of the shapes, then an affine
  map b ~ y W + c by least squares; z_hat = decode(shape PCA, encode(image PCA, x) W + c).
  The two PCAs need no pairs: fit them on any (even unlabeled, unpaired) sets with
  :func:`inverse3d.linear.fit_pca` and pass them to :func:`fit_code_mapping`, which uses the
  paired data only for W and c.
- Direct LS (eqs 10-11): z ~ x W + c on the raw pixels.

Both maps carry an unpenalised bias c (the paper writes them without one; without it the map
would also have to produce the shapes' mean) and minimise
sum_m |z[shape_index[m]] - x_m W - c|^2 + ridge |W|_F^2.

Multi-view data: ``images`` (M, d_x) and ``shapes`` (N, d_z) with ``shape_index`` (M,) naming the
shape row each image shows; for renders (N, A, H, W) use images.reshape(N * A, -1) and
shape_index = jnp.repeat(jnp.arange(N), A). No (M, d_z) matrix is ever built: the cross term
sum_m x_m^T z[shape_index[m]] is (per-shape sums of image rows)^T z, via a segment sum.
Without shape_index, image row m shows shape row m.

The normal equations are solved through an eigendecomposition of the (d_x, d_x) input Gram
matrix: eigenvalues lambda with lambda + ridge <= max(d_x, 10) * eps * lambda_max are dropped
(the float32 Gram resolves nothing below ~2 eps * lambda_max), so ridge=0 gives the
minimum-norm solution (what lstsq returns) on rank-deficient or n < d data.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from inverse3d.checks import check_dtype, check_finite, check_range, check_shape
from inverse3d.linear.pca import PCA, _encode, _fit_pca, data_matrix, pca_plan


class LowDimLS(NamedTuple):
  """Low-dimensional LS model (a pytree): image_pca (k_image components), shape_pca (k_shape),
  weights (k_image, k_shape), bias (k_shape,)."""
  image_pca: PCA
  shape_pca: PCA
  weights: jax.Array
  bias: jax.Array


class DirectLS(NamedTuple):
  """Direct LS model (a pytree): weights (d_x, d_z), bias (d_z,)."""
  weights: jax.Array
  bias: jax.Array


def check_names(names) -> None:
  """Raises unless ``names`` is a pair of strings (the two data arguments' names)."""
  if (not isinstance(names, (tuple, list)) or len(names) != 2
      or not all(isinstance(n, str) for n in names)):
    raise ValueError(f"names: expected two strings (inputs, targets), got {names!r}")


def _ridge_solve(gram: jax.Array, rhs: jax.Array, ridge) -> jax.Array:
  """(gram + ridge I)^+ rhs for a symmetric positive semi-definite (p, p) gram, rhs (p, q)."""
  values, vectors = jnp.linalg.eigh(gram)
  shifted = jnp.maximum(values, 0) + ridge
  keep = shifted > max(gram.shape[0], 10) * jnp.finfo(gram.dtype).eps * jnp.max(values)
  inverse = jnp.where(keep, 1 / jnp.where(keep, shifted, 1), 0)
  return vectors @ (inverse[:, None] * (vectors.T @ rhs))


def _fit_affine(inputs, targets, shape_index, ridge) -> tuple[jax.Array, jax.Array]:
  """W (p, q) and c (q,) of the ridge regression of targets[shape_index] (N, q) on inputs
  (M, p); shape_index None pairs row m with row m."""
  count = inputs.shape[0]
  input_mean = jnp.mean(inputs, axis=0)
  centred = inputs - input_mean
  if shape_index is None:
    per_shape, target_mean = centred, jnp.mean(targets, axis=0)
  else:
    per_shape = jax.ops.segment_sum(centred, shape_index, targets.shape[0])
    views = jax.ops.segment_sum(jnp.ones(count, targets.dtype), shape_index, targets.shape[0])
    target_mean = views @ targets / count  # mean of targets over the image rows
  # sum_m centred_m^T (z_m - target_mean); the column sums of per_shape are zero up to rounding.
  cross = per_shape.T @ targets - jnp.outer(jnp.sum(per_shape, axis=0), target_mean)
  weights = _ridge_solve(centred.T @ centred, cross, ridge)
  return weights, target_mean - input_mean @ weights


def _pairs(images, shapes, shape_index, ridge, names=("images", "shapes")):
  """Validated float images (M, d_x), shapes (N, d_z), shape_index (M,) int32 or None;
  ``names`` are what images and shapes are called in error messages."""
  check_names(names)
  images = data_matrix(names[0], images)
  shapes = data_matrix(names[1], shapes)
  if shape_index is None:
    check_shape(names[0], images, (shapes.shape[0], None))
  else:
    check_shape("shape_index", shape_index, (images.shape[0],))
    check_dtype("shape_index", shape_index, "iu")
    check_range("shape_index", shape_index, 0, shapes.shape[0] - 1)
    shape_index = jnp.asarray(shape_index, jnp.int32)
  check_shape("ridge", ridge, ())
  check_dtype("ridge", ridge, "biuf")
  check_finite("ridge", ridge)
  check_range("ridge", ridge, 0, float("inf"))
  return images, shapes, shape_index


@jax.jit
def _fit_mapping(image_pca, shape_pca, images, shapes, shape_index, ridge) -> LowDimLS:
  weights, bias = _fit_affine(_encode(image_pca, images), _encode(shape_pca, shapes),
                              shape_index, ridge)
  return LowDimLS(image_pca, shape_pca, weights, bias)


def fit_code_mapping(image_pca: PCA, shape_pca: PCA, images, shapes, ridge=0.0, *,
                     shape_index=None, names=("images", "shapes")) -> LowDimLS:
  """Eq. 8 with given PCAs (fitted on any sets, paired or not): the affine least-squares map
  from image codes to shape codes on the paired (images, shapes).

  Args:
    image_pca: PCA with components (k_image, d_x). shape_pca: PCA with (k_shape, d_z).
    images: (M, d_x) rows. shapes: (N, d_z) rows. ridge: scalar >= 0 on |W|^2.
    shape_index: (M,) ints in [0, N): the shape each image shows; None when M == N row-paired.
    names: what images and shapes are called in error messages, e.g.
      ("images of modelnet10", "shapes of modelnet10").
  Returns:
    LowDimLS(image_pca, shape_pca, weights (k_image, k_shape), bias (k_shape,)).
  jit-able; vmap-able (e.g. over ridge).
  """
  images, shapes, shape_index = _pairs(images, shapes, shape_index, ridge, names)
  check_shape(names[0], images, (None, image_pca.components.shape[1]))
  check_shape(names[1], shapes, (None, shape_pca.components.shape[1]))
  return _fit_mapping(image_pca, shape_pca, images, shapes, shape_index, ridge)


def fit_lowdim_ls(images, shapes, k_image: int, k_shape: int, ridge=0.0, *, shape_index=None,
                  method: str = "auto", key=None, oversample: int = 10,
                  power_iters: int = 4, names=("images", "shapes")) -> LowDimLS:
  """Low-dimensional LS (eqs 2-9): PCA of the image rows and of the shapes, then eq. 8.

  Args:
    images: (M, d_x) rows. shapes: (N, d_z) rows. k_image <= min(M - 1, d_x) and
      k_shape <= min(N - 1, d_z): PCA sizes (the paper's objects: 60 and 400).
    ridge: scalar >= 0. shape_index: (M,) ints in [0, N), or None when row-paired.
    method, key, oversample, power_iters: the PCA solver (see fit_pca); the key is split
      between the two PCAs.
    names: what images and shapes are called in error messages.
  Returns:
    LowDimLS; predict(model, images) gives (n, d_z).
  jit with static_argnames=("k_image", "k_shape", "method", "oversample", "power_iters") (and
  "names" if given).
  """
  images, shapes, shape_index = _pairs(images, shapes, shape_index, ridge, names)
  keys = (None, None) if key is None else tuple(jax.random.split(key))
  image_pca = _fit_pca(images, keys[0], *pca_plan("k_image", k_image, images.shape, method, key,
                                                  oversample, power_iters))
  shape_pca = _fit_pca(shapes, keys[1], *pca_plan("k_shape", k_shape, shapes.shape, method, key,
                                                  oversample, power_iters))
  return _fit_mapping(image_pca, shape_pca, images, shapes, shape_index, ridge)


def fit_affine(inputs, targets, ridge=0.0, *, shape_index=None,
               names=("inputs", "targets")) -> tuple[jax.Array, jax.Array]:
  """The affine ridge regression under both fits: W, c minimising
  sum_m |targets[shape_index[m]] - inputs_m W - c|^2 + ridge |W|_F^2.

  Args:
    inputs: (M, p) rows (e.g. image codes). targets: (N, q) rows (e.g. shape codes).
    ridge: scalar >= 0. shape_index: (M,) ints in [0, N), or None when row-paired.
    names: what inputs and targets are called in error messages.
  Returns:
    weights (p, q), bias (q,). jit-able.
  """
  return _fit_affine_jit(*_pairs(inputs, targets, shape_index, ridge, names), ridge)


@jax.jit
def _fit_affine_jit(inputs, targets, shape_index, ridge):
  return _fit_affine(inputs, targets, shape_index, ridge)


def fit_direct_ls(images, shapes, ridge=0.0, *, shape_index=None,
                  names=("images", "shapes")) -> DirectLS:
  """Direct LS (eqs 10-11): the affine least-squares map from image pixels to shapes.

  Args:
    images: (M, d_x) rows. shapes: (N, d_z) rows. ridge: scalar >= 0.
    shape_index: (M,) ints in [0, N), or None when row-paired.
    names: what images and shapes are called in error messages.
  Returns:
    DirectLS(weights (d_x, d_z), bias (d_z,)). Memory: O(d_x d_z + M d_x + N d_z).
  jit-able; vmap-able (e.g. over ridge).
  """
  return DirectLS(*fit_affine(images, shapes, ridge, shape_index=shape_index, names=names))


@jax.jit
def _predict(model, images) -> jax.Array:
  if isinstance(model, LowDimLS):
    codes = _encode(model.image_pca, images) @ model.weights + model.bias
    return codes @ model.shape_pca.components + model.shape_pca.mean
  return images @ model.weights + model.bias


def predict(model: LowDimLS | DirectLS, images, *, name: str = "images") -> jax.Array:
  """Predicted shapes (n, d_z) (real-valued, also for voxels) for images (n, d_x); ``name`` is
  what images are called in error messages."""
  if isinstance(model, LowDimLS):
    width = model.image_pca.components.shape[1]
  elif isinstance(model, DirectLS):
    width = model.weights.shape[0]
  else:
    raise TypeError(f"model: expected a LowDimLS or DirectLS, got {type(model).__name__}")
  images = data_matrix(name, images)
  check_shape(name, images, (None, width))
  return _predict(model, images)
