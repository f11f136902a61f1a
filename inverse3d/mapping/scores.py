"""Test evaluation for the deep mapping job, and the closed-form rows fitted on the same pairs.

Every predictor is scored on every (test shape, view) pair with :mod:`inverse3d.eval.metrics`:
RMSE per element over the whole test set (eq. 12), RMSE per view, mean IoU (voxels) and the
per-vertex error map (points).
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d import linear
from inverse3d.eval import metrics
from inverse3d.mapping.data import model_images


def evaluate(predict: Callable, test: dict, kind: str, shape_shape, image_shape=None,
             batch_size: int = 200, keep: int = 0) -> dict:
  """Scores ``predict`` on every view of every test shape.

  Args:
    predict: model images (n, *image_shape) -> shapes (n, *shape_shape); or, with
      ``image_shape=None``, flat images (n, S*S) -> flat shapes (n, D).
    test: split with "images" (N, A, S, S) and "shapes" (N, D).
    kind: "points" or "voxels". keep: predictions of the first ``keep`` shapes to return.
  Returns:
    {"rmse", "rmse_per_view" (A,), "iou" (voxels) or "vertex_error" and
    "vertex_error_map" (V,) (points), "kept" (keep, A, D) predictions}.
  """
  n, views = test["images"].shape[:2]
  squares, ious, vertex_sum, kept = np.zeros(views), [], 0.0, []
  for view in range(views):
    for start in range(0, n, batch_size):
      images = test["images"][start:start + batch_size, view]
      inputs = (images.reshape(len(images), -1) if image_shape is None
                else model_images(images, image_shape))
      pred = jnp.reshape(predict(inputs), (len(images), -1))
      truth = jnp.asarray(test["shapes"][start:start + batch_size])
      squares[view] += float(metrics.rmse(pred, truth)) ** 2 * len(images)
      if kind == "voxels":
        ious.append(np.asarray(metrics.iou(pred, truth)))
      else:
        vertex_sum = vertex_sum + metrics.per_vertex_error(
            pred.reshape(len(images), -1, 3), truth.reshape(len(images), -1, 3)).sum(0)
      if start == 0 and keep:
        kept.append(np.asarray(pred[:keep]))
  out = {"rmse": math.sqrt(squares.sum() / (n * views)),
         "rmse_per_view": np.sqrt(squares / n).tolist()}
  if kind == "voxels":
    out["iou"] = float(np.concatenate(ious).mean())
  else:
    vertex_map = np.asarray(vertex_sum) / (n * views)
    out["vertex_error"] = float(vertex_map.mean())
    out["vertex_error_map"] = vertex_map
  if keep:
    out["kept"] = np.stack(kept, axis=1)
  return out


def closed_form_rows(config, dataset: dict, pairs: tuple, labeled: dict, keep: int = 0) -> dict:
  """Low-dim LS (PCA on every training image and shape, the mapping on the labeled pairs) and
  direct LS (labeled pairs only) for each labeled fraction, scored by :func:`evaluate`.

  labeled: {fraction: the pair rows the training loop labeled for it}, so that both fit the
  same pairs as the deep runs. Returns {fraction: {"lowdim": scores, "direct": scores}}.
  """
  train, test, kind = dataset["train"], dataset["test"], dataset["kind"]
  shape_index, view_index = pairs
  x = train["images"][shape_index, view_index].reshape(len(shape_index), -1)
  cf = config.closed_form
  k_image = min(cf.k_image, *x.shape)
  k_shape = min(cf.k_shape, *train["shapes"].shape)
  key = jax.random.fold_in(jax.random.key(config.seed), 7)
  name = config.data.name
  image_pca = linear.fit_pca(x, k_image, key=key, name=f"{name} train images")
  shape_pca = linear.fit_pca(train["shapes"], k_shape, key=jax.random.fold_in(key, 1),
                             name=f"{name} train shapes")
  out = {}
  for fraction in sorted(labeled):
    rows = labeled[fraction]
    lowdim = linear.fit_code_mapping(image_pca, shape_pca, x[rows], train["shapes"], cf.ridge,
                                     shape_index=shape_index[rows])
    direct = linear.fit_direct_ls(x[rows], train["shapes"], cf.ridge,
                                  shape_index=shape_index[rows])
    out[fraction] = {
        name: evaluate(jax.jit(lambda im, m=model: linear.predict(m, im)), test, kind,
                       dataset["shape_shape"], keep=keep)
        for name, model in (("lowdim", lowdim), ("direct", direct))}
  return out


def pca_bases(model_config, pca_init: bool, images, shapes, seed: int,
              name: str = "the dataset") -> dict:
  """``{component: (mean, components)}`` for :func:`inverse3d.mapping.loop.train`'s ``pca``:
  every hidden-less linear autoencoder component, from PCA of all training ``images``
  (n, H, W, C) or ``shapes`` (n, *shape_shape) (empty unless ``pca_init``)."""
  if not pca_init:
    return {}
  key = jax.random.fold_in(jax.random.key(seed), 11)
  sources = {"image": (images, model_config.image_code),
             "shape": (shapes, model_config.shape_code)}
  bases, fitted = {}, {}
  for component in ("image_encoder", "image_decoder", "shape_encoder", "shape_decoder"):
    spec = model_config[component]
    if spec["name"] != "linear" or tuple(spec.get("hidden", ())):
      continue
    if component == "image_decoder" and model_config.recon_shape not in (
        None, tuple(model_config.image_shape)):
      continue
    data = component.split("_")[0]
    if data not in fitted:
      array, k = sources[data]
      rows = np.asarray(array, np.float32).reshape(len(array), -1)
      fitted[data] = linear.fit_pca(rows, k, key=jax.random.fold_in(key, len(fitted)),
                                    name=f"{name} train {data}s")
    bases[component] = (fitted[data].mean, fitted[data].components)
  return bases
