"""Baselines for single-view reconstruction: per-class mean shapes and nearest-neighbour retrieval.

Tatarchenko et al. (CVPR 2019) showed that a reconstruction score means something only beside
retrieval: predicting the training shape of the nearest training image, or the mean shape of
the true class. Pure jax.numpy functions; the jobs score them in :mod:`inverse3d.mapping.scores`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from inverse3d.checks import check_min_size, check_shape


@functools.partial(jax.jit, static_argnames="chunk_size")
def nearest_neighbours(queries, references, chunk_size: int = 256) -> jax.Array:
  """Index of each query's nearest reference in Euclidean distance (ties: the lowest index).

  queries (Q, D), references (R, D) -> (Q,) int32. Queries go through in chunks of
  ``chunk_size``, so memory is (chunk_size, R) distances beside the inputs. Both sets are
  shifted by the references' mean rounded to integers, which keeps the expanded squared
  distance |r|^2 - 2 q.r accurate in float32, and exact for integer data (voxel grids), whose
  equal distances then tie exactly.
  """
  check_shape("references", references, ("R", "D"))
  check_min_size("references", references, 1)
  check_shape("queries", queries, ("Q", references.shape[1]))
  dtype = jnp.promote_types(jnp.result_type(queries, references), jnp.float32)
  references = jnp.asarray(references, dtype)
  centre = jnp.round(jnp.mean(references, axis=0))
  references = references - centre
  norms = jnp.sum(jnp.square(references), axis=1)

  def nearest(query):
    dots = jnp.dot(references, query - centre, precision=jax.lax.Precision.HIGHEST)
    return jnp.argmin(norms - 2 * dots).astype(jnp.int32)

  return jax.lax.map(nearest, jnp.asarray(queries, dtype), batch_size=chunk_size)


@functools.partial(jax.jit, static_argnames="num_classes")
def class_means(shapes, labels, num_classes: int) -> jax.Array:
  """Mean shape of each class: shapes (N, D), labels (N,) in [0, num_classes) -> (C, D).

  A class without shapes gets NaN (nothing to average), so using it cannot pass unnoticed.
  """
  check_shape("labels", labels, (check_shape("shapes", shapes, ("N", "D"))["N"],))
  shapes = jnp.asarray(shapes, jnp.promote_types(jnp.result_type(shapes), jnp.float32))
  sums = jax.ops.segment_sum(shapes, labels, num_classes)
  counts = jax.ops.segment_sum(jnp.ones(len(labels), shapes.dtype), labels, num_classes)
  return sums / counts[:, None]
