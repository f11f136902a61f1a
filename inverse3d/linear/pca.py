"""Principal component analysis in jax.numpy: the paper's linear encoder and decoder (eqs 2-7).

A linear autoencoder trained with an L2 loss spans the PCA subspace (section 4.1), so the linear
2D encoder and 3D decoder are PCA bases: ``encode`` gives y = U^T (x - mean), ``decode`` gives
z = mean + U b. Samples are rows: x is (n, d), components are (k, d).

Two solvers, both jit- and vmap-able:

- ``"exact"``: the eigendecomposition of the Gram matrix on the data's smaller side (x x^T when
  n < d, x^T x otherwise), which costs 2 m^2 M + eigh(m) for m = min(n, d), M = max(n, d).
  A thin SVD of x does more work for every shape (4 m^2 M + 22 m^3 flops, and 1.5-9x slower in
  jax on CPU at the shapes we timed), so it is not used. When n < d the components are the
  projections x^T v_i, orthonormalised by a QR so that they stay orthonormal even for
  rank-deficient data. The Gram matrix squares the condition number: singular values below
  about sqrt(eps) * s_1 (3e-4 s_1 in float32) and their directions are not resolved; the
  leading ones are.
- ``"randomized"``: Halko, Martinsson & Tropp (2011), algorithm 4.4: a Gaussian test matrix
  with ``oversample`` extra columns, ``power_iters`` rounds of subspace iteration with QR
  re-orthonormalisation, then the exact solver on the small projected matrix Q^T x.

``"auto"`` uses ``"randomized"`` only when a key is given and the flop model of
:func:`pca_method` says it is cheaper; otherwise ``"exact"``.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from inverse3d.checks import (check_choice, check_dtype, check_finite, check_min_size,
                              check_positive_int, check_shape)

METHODS = ("auto", "exact", "randomized")
EIGH_COST = 40.0
"""An m x m symmetric eigendecomposition costs about EIGH_COST * m^3 matmul flops of time on
CPU (measured on 2 cores: eigh of a 3991 x 3991 Gram took as long as 2.7 TFLOP of matmul)."""


class PCA(NamedTuple):
  """A PCA basis (a pytree).

  mean: (d,) data mean. components: (k, d) orthonormal rows, by decreasing variance, each
  signed so that its largest-magnitude entry is positive. singular_values: (k,) singular values
  of the centred data (the variance along component i is s_i^2 / (n - 1)).
  """
  mean: jax.Array
  components: jax.Array
  singular_values: jax.Array


def data_matrix(name: str, x, min_rows: int = 1) -> jax.Array:
  """Checks a (n, d) matrix of samples (rows) and returns it as a float jax array.

  Raises ValueError naming ``name`` for a wrong rank, fewer than ``min_rows`` rows, no columns,
  a complex (or non-numeric) dtype, or NaN/inf (a value check: NumPy input only, see
  ``inverse3d.checks``). Integer and bool input (e.g. voxels) becomes float32.
  """
  check_shape(name, x, (None, None))
  check_min_size(name, x, min_rows, axis=0)
  check_min_size(name, x, 1, axis=1)
  check_dtype(name, x, "biuf")
  check_finite(name, x)
  x = jnp.asarray(x)
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _exact_cost(n: int, d: int, k: int) -> float:
  small, big = min(n, d), max(n, d)
  return 2.0 * small * small * big + EIGH_COST * small ** 3 + 2.0 * k * small * big


def pca_method(n: int, d: int, k: int, key_given: bool, oversample: int = 10,
               power_iters: int = 4) -> str:
  """The solver ``method="auto"`` uses for (n, d) data and k components: "exact" or
  "randomized" (only if ``key_given`` and its flop estimate is below the exact one)."""
  size = min(k + oversample, n, d)
  randomized = (2.0 * n * d * size * (2 * power_iters + 2)  # products with x and x^T
                + 4.0 * size * size * (n + d) * (power_iters + 1)  # orthonormalisations
                + 2.0 * size * n * d + _exact_cost(size, d, k))  # Q^T x and its exact PCA
  return "randomized" if key_given and randomized < _exact_cost(n, d, k) else "exact"


def _gram_svd(a: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """Top-k right singular vectors (k, d) and singular values (k,) of a (n, d) via the Gram
  matrix on its smaller side."""
  n, d = a.shape
  if n >= d:
    vectors = jnp.linalg.eigh(a.T @ a)[1][:, ::-1][:, :k]  # (d, k), eigh sorts ascending
    return vectors.T, jnp.linalg.norm(a @ vectors, axis=0)
  left = jnp.linalg.eigh(a @ a.T)[1][:, ::-1][:, :k]  # (n, k)
  q, r = jnp.linalg.qr(a.T @ left)  # columns of a^T v_i are s_i u_i: orthonormalise them
  diag = jnp.diagonal(r)
  return (q * jnp.where(diag < 0, -1, 1).astype(a.dtype)).T, jnp.abs(diag)


def _orthonormalise(y: jax.Array, rounds: int) -> jax.Array:
  """Columns spanning the range of y (n, l), orthonormal where y is resolved.

  Each round is y <- y V diag(lambda)^(-1/2) with y^T y = V diag(lambda) V^T; eigenvalues under
  l * eps * lambda_max are floored, so unresolved directions shrink instead of blowing up. One
  round leaves an orthogonality error of about eps * cond(y)^2, a second removes it. On CPU a
  round is ~20x faster than a Householder QR of a tall y (an (l, l) eigh plus matmuls).
  """
  for _ in range(rounds):
    values, vectors = jnp.linalg.eigh(y.T @ y)
    floor = jnp.maximum(y.shape[1] * jnp.finfo(y.dtype).eps * values[-1],
                        jnp.finfo(y.dtype).tiny)
    y = y @ (vectors * jax.lax.rsqrt(jnp.maximum(values, floor)))
  return y


def _range_basis(a: jax.Array, key, size: int, power_iters: int) -> jax.Array:
  """(n, size) orthonormal basis close to the top left singular subspace of a (Halko et al.,
  algorithm 4.4: subspace iteration, re-orthonormalised after every product)."""
  omega = jax.random.normal(key, (a.shape[1], size), a.dtype)

  def iteration(q, _):
    return _orthonormalise(a @ _orthonormalise(a.T @ q, 1), 1), None

  q = jax.lax.scan(iteration, _orthonormalise(a @ omega, 1), None, length=power_iters)[0]
  return _orthonormalise(q, 1)  # the second round for the last product


def _fix_signs(components: jax.Array) -> jax.Array:
  peak = jnp.take_along_axis(components, jnp.argmax(jnp.abs(components), axis=1)[:, None], 1)
  return components * jnp.where(peak < 0, -1, 1).astype(components.dtype)


@functools.partial(jax.jit, static_argnames=("k", "method", "oversample", "power_iters"))
def _fit_pca(x, key, k: int, method: str, oversample: int, power_iters: int) -> PCA:
  mean = jnp.mean(x, axis=0)
  centred = x - mean
  if method == "exact":
    components, singular_values = _gram_svd(centred, k)
  else:
    basis = _range_basis(centred, key, min(k + oversample, *x.shape), power_iters)
    components, singular_values = _gram_svd(basis.T @ centred, k)
  return PCA(mean, _fix_signs(components), singular_values)


def pca_plan(k_name: str, k, shape: tuple[int, int], method: str, key, oversample,
             power_iters) -> tuple[int, str, int, int]:
  """Validates PCA settings for (n, d) data; returns (k, solver, oversample, power_iters) with
  the solver "exact" or "randomized" ("auto" resolved by :func:`pca_method`)."""
  n, d = shape
  k = check_positive_int(k_name, k, maximum=min(n - 1, d),
                         hint=f"at most min(n - 1, d) for data of shape {(n, d)}")
  check_choice("method", method, METHODS)
  oversample = check_positive_int("oversample", oversample, minimum=0)
  power_iters = check_positive_int("power_iters", power_iters, minimum=0)
  if method == "auto":
    method = pca_method(n, d, k, key is not None, oversample, power_iters)
  if method == "randomized" and key is None:
    raise ValueError("key: expected a jax.random key for method='randomized', got None")
  return k, method, oversample, power_iters


def fit_pca(x, k: int, method: str = "auto", key=None, *, oversample: int = 10,
            power_iters: int = 4, name: str = "x") -> PCA:
  """Fits a k-component PCA to the rows of x.

  Args:
    x: (n, d) samples as rows, n >= 2 (flatten images or shapes first: x.reshape(n, -1)).
    k: number of components, 1 <= k <= min(n - 1, d) (centring removes one dimension).
    method: "auto", "exact" or "randomized" (see the module docstring).
    key: a jax.random key; required by "randomized", and what lets "auto" choose it.
    oversample, power_iters: the randomized solver's extra test vectors and subspace
      iterations.
    name: what ``x`` is called in error messages, e.g. "images of procedural_faces".
  Returns:
    PCA(mean (d,), components (k, d), singular_values (k,)).
  jit with static_argnames=("k", "method", "oversample", "power_iters") (and "name" if given);
  vmap-able over x.
  """
  x = data_matrix(name, x, min_rows=2)
  return _fit_pca(x, key, *pca_plan("k", k, x.shape, method, key, oversample, power_iters))


def _encode(pca: PCA, x) -> jax.Array:
  return (x - pca.mean) @ pca.components.T


def encode(pca: PCA, x, *, name: str = "x") -> jax.Array:
  """Codes y = (x - mean) @ components^T: (n, d) -> (n, k) (eq. 4); ``name`` is what x is
  called in error messages."""
  x = data_matrix(name, x)
  check_shape(name, x, (None, pca.components.shape[1]))
  return _encode(pca, x)


def decode(pca: PCA, codes) -> jax.Array:
  """Reconstructions mean + codes @ components: (n, k) -> (n, d) (eq. 9 without T)."""
  codes = data_matrix("codes", codes)
  check_shape("codes", codes, (None, pca.components.shape[0]))
  return codes @ pca.components + pca.mean
