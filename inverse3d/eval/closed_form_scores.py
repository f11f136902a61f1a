"""Test RMSE of many closed-form fits without decoding every prediction.

A sweep over k_image, k_shape, ridge and the number of labeled pairs fits dozens of models;
decoding each one's 27,000-wide predictions for every test view would dominate the run. Both
scorers here give the same number as decoding (tests check it) from quantities computed once:

- low-dim LS: shape components are orthonormal, so |z - z_hat|^2 = |b - b_hat|^2 +
  (|z - mean|^2 - |b|^2), the code error plus what the k_shape components miss (Pythagoras);
- direct LS: sum_m |x_m W + c - z_m|^2 expands into the test set's second moments
  (x^T x, x^T z, sums), with shapes centred on the training mean to keep float32 accurate.

Rows follow the multi-view layout of inverse3d.linear: image rows (M, d) with shape_index (M,).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from inverse3d import linear


def lowdim_scorer(image_pca: linear.PCA, shape_pca: linear.PCA, train_rows, train_shapes,
                  train_index, test_rows, test_shapes, test_index):
  """Returns rmse(k_image, k_shape, ridge, n_labeled=None) -> per-element test RMSE of
  low-dim LS with the first k components of the given PCAs and a code mapping fitted on the
  image rows of the first ``n_labeled`` shapes (all when None)."""
  y_train = linear.encode(image_pca, train_rows)
  b_train = linear.encode(shape_pca, train_shapes)
  y_test = linear.encode(image_pca, test_rows)
  b_test = linear.encode(shape_pca, test_shapes)
  test_shapes = jnp.asarray(test_shapes)
  centred_norms = jnp.sum(jnp.square(test_shapes - shape_pca.mean), axis=1)
  captured = jnp.cumsum(jnp.square(b_test), axis=1)  # (N_test, K): |b|^2 for each k_shape
  rows_per_shape = jnp.bincount(jnp.asarray(test_index), length=len(test_shapes))
  size = len(test_index) * test_shapes.shape[1]

  def rmse(k_image, k_shape, ridge, n_labeled=None):
    labeled = train_index < (len(train_shapes) if n_labeled is None else n_labeled)
    weights, bias = linear.fit_affine(y_train[labeled, :k_image],
                                      b_train[:n_labeled, :k_shape], ridge,
                                      shape_index=train_index[labeled])
    code_error = jnp.sum(jnp.square(y_test[:, :k_image] @ weights + bias
                                    - b_test[test_index, :k_shape]))
    missed = rows_per_shape @ jnp.maximum(centred_norms - captured[:, k_shape - 1], 0)
    return float(jnp.sqrt((code_error + missed) / size))
  return rmse


def direct_scorer(test_rows, test_shapes, test_index, centre):
  """Returns rmse(model: DirectLS) -> per-element test RMSE, from the test set's moments.

  centre: (d_z,) a shape near the data (e.g. the training mean shape), subtracted from shapes
  and bias so that the expanded sum of squares does not lose float32 precision.
  """
  x = jnp.asarray(test_rows)
  z = jnp.asarray(test_shapes) - centre
  index = jnp.asarray(test_index)
  gram = x.T @ x
  cross = jax.ops.segment_sum(x, index, len(z)).T @ z  # sum_m x_m^T z_m, (d_x, d_z)
  rows_per_shape = jnp.bincount(index, length=len(z)).astype(z.dtype)
  x_sum, z_sum = jnp.sum(x, axis=0), rows_per_shape @ z
  z_squares = rows_per_shape @ jnp.sum(jnp.square(z), axis=1)
  count, size = x.shape[0], x.shape[0] * z.shape[1]

  def rmse(model: linear.DirectLS):
    w, c = model.weights, model.bias - centre
    sse = (jnp.sum(w * (gram @ w)) + 2 * (x_sum @ w) @ c + count * c @ c
           - 2 * jnp.sum(w * cross) - 2 * c @ z_sum + z_squares)
    return float(jnp.sqrt(jnp.maximum(sse, 0) / size))
  return rmse
