"""Test scores of the mapping jobs: deep models, the closed-form rows fitted on the same pairs,
the baselines (:mod:`inverse3d.eval.baselines`), and the rows of results.json.

Every predictor is scored on every (test shape, view) pair with :mod:`inverse3d.eval.metrics`:
RMSE per element over the whole test set (eq. 12), RMSE per view, mean IoU (voxels) and the
per-vertex error map (points). results.json of every mapping job holds ``datasets`` (name ->
:func:`split_sizes`) and ``rows`` (:func:`result_row`), so that any two runs compare row by row.
"""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d import linear
from inverse3d.checks import check_choice, check_shape
from inverse3d.eval import baselines, metrics
from inverse3d.mapping.data import image_rows, model_images, validation_rows


def _score(predictions: Callable, test: dict, kind: str, batch_size: int, keep: int,
           threshold: float) -> dict:
  """The scores of :func:`evaluate` from ``predictions(view, rows)``: the predictions
  (len(rows), D) for view ``view`` of the test shapes ``rows`` (a slice)."""
  n, views = test["images"].shape[:2]
  squares, ious, vertex_sum, kept = np.zeros(views), [], 0.0, []
  for view in range(views):
    for start in range(0, n, batch_size):
      rows = slice(start, start + batch_size)
      truth = jnp.asarray(test["shapes"][rows])
      pred = jnp.reshape(predictions(view, rows), (len(truth), -1))
      squares[view] += float(metrics.rmse(pred, truth)) ** 2 * len(truth)
      if kind == "voxels":
        ious.append(np.asarray(metrics.iou(pred, truth, threshold)))
      else:
        vertex_sum = vertex_sum + metrics.per_vertex_error(
            pred.reshape(len(truth), -1, 3), truth.reshape(len(truth), -1, 3)).sum(0)
      if start == 0 and keep:
        kept.append(np.asarray(pred[:keep]))
  out = {"rmse": math.sqrt(squares.sum() / (n * views)),
         "rmse_per_view": np.sqrt(squares / n).tolist()}
  if kind == "voxels":
    out["iou"] = float(np.concatenate(ious).mean())
    out["iou_threshold"] = float(threshold)
  else:
    vertex_map = np.asarray(vertex_sum) / (n * views)
    out["vertex_error"] = float(vertex_map.mean())
    out["vertex_error_map"] = vertex_map
  if keep:
    out["kept"] = np.stack(kept, axis=1)
  return out


def evaluate(predict: Callable, test: dict, kind: str, shape_shape, image_shape=None,
             batch_size: int = 200, keep: int = 0, threshold: float = 0.5) -> dict:
  """Scores ``predict`` on every view of every test shape.

  Args:
    predict: model images (n, *image_shape) -> shapes (n, *shape_shape); or, with
      ``image_shape=None``, flat images (n, S*S) -> flat shapes (n, D).
    test: split with "images" (N, A, S, S) and "shapes" (N, D).
    kind: "points" or "voxels". keep: predictions of the first ``keep`` shapes to return.
    threshold: occupancy threshold of the IoU (voxels).
  Returns:
    {"rmse", "rmse_per_view" (A,), "iou" and "iou_threshold" (voxels) or "vertex_error" and
    "vertex_error_map" (V,) (points), "kept" (keep, A, D) predictions}.
  """
  def predictions(view, rows):
    images = test["images"][rows, view]
    return predict(images.reshape(len(images), -1) if image_shape is None
                   else model_images(images, image_shape))
  return _score(predictions, test, kind, batch_size, keep, threshold)


def evaluate_lookup(table, index, test: dict, kind: str, batch_size: int = 200,
                    threshold: float = 0.5) -> dict:
  """Scores like :func:`evaluate` the prediction ``table[index[n, a]]`` for view a of test
  shape n: table (R, D) host array of shapes, index (N, A) ints (e.g. retrieved rows)."""
  table, index = np.asarray(table), np.asarray(index)
  check_shape("index", index, test["images"].shape[:2])
  return _score(lambda view, rows: table[index[rows, view]], test, kind, batch_size, 0,
                threshold)


def encode_views(encode: Callable, images, image_shape, batch_size: int = 200) -> np.ndarray:
  """Codes (M, k) of gray views (M, S, S) through ``encode`` (model images (n, *image_shape)
  -> (n, k), e.g. a trained 2D encoder), in batches."""
  return np.concatenate([np.asarray(encode(model_images(images[s:s + batch_size], image_shape)))
                         for s in range(0, len(images), batch_size)])


def retrieval_scores(train_rows, train_index, test_rows, train_shapes, test: dict,
                     kind: str) -> dict:
  """Scores of nearest-neighbour retrieval: test row m (in the shape-major layout of
  :func:`inverse3d.mapping.data.image_rows`) predicts ``train_shapes[train_index[r]]`` for its
  nearest training row r. train_rows (M, d), train_index (M,), test_rows (N*A, d): pixels or
  codes."""
  n, views = test["images"].shape[:2]
  check_shape("test_rows", test_rows, (n * views, None))
  nearest = np.asarray(baselines.nearest_neighbours(test_rows, train_rows))
  return evaluate_lookup(train_shapes, np.asarray(train_index)[nearest].reshape(n, views), test,
                         kind)


VAL_FRACTION = 0.2
"""Share of each class's training shapes held out to choose class_mean's occupancy threshold."""
THRESHOLDS = np.round(np.linspace(0.05, 0.95, 19), 2)
"""The occupancy thresholds class_mean chooses from."""


def class_mean_threshold(train: dict, key) -> tuple:
  """(class means (C, D) of every training shape, threshold, validation size): the threshold
  among ``THRESHOLDS`` of best mean IoU on a validation split of the training shapes
  (:func:`inverse3d.mapping.data.validation_rows`, ``VAL_FRACTION``), predicted by the class
  means of the other training shapes. Reads no test data."""
  shapes, labels = np.asarray(train["shapes"]), np.asarray(train["labels"])
  val = validation_rows(key, labels, VAL_FRACTION)
  if not len(val):
    raise ValueError("train labels: expected a class with at least 2 shapes to hold one out "
                     "for class_mean's threshold, got one shape per class")
  fit = np.setdiff1d(np.arange(len(labels)), val)
  num_classes = int(labels.max()) + 1
  fit_means = baselines.class_means(shapes[fit], labels[fit], num_classes)
  threshold = metrics.best_iou_threshold(fit_means[labels[val]], shapes[val], THRESHOLDS)
  return np.asarray(baselines.class_means(shapes, labels, num_classes)), threshold, len(val)


def shape_baselines(train: dict, test: dict, kind: str, key) -> dict:
  """The baselines that read no image, scored by :func:`evaluate_lookup` on every view:
  ``mean_shape`` (the training mean), ``class_mean`` (voxels: the mean training shape of the
  test shape's true class; RMSE of that mean, IoU at :func:`class_mean_threshold`'s threshold,
  with its "n_val" validation shapes) and ``oracle_retrieval`` (the training shape nearest each
  test shape: the lowest RMSE that retrieving a training shape can reach)."""
  n, views = test["images"].shape[:2]

  def per_view(rows):
    return np.repeat(np.asarray(rows)[:, None], views, axis=1)

  mean = np.asarray(jnp.mean(jnp.asarray(train["shapes"]), axis=0))
  out = {"mean_shape": evaluate_lookup(mean[None], np.zeros((n, views), np.int32), test, kind)}
  if kind == "voxels":
    missing = sorted(set(np.unique(test["labels"])) - set(np.unique(train["labels"])))
    if missing:
      raise ValueError(f"test labels: expected classes seen in training for class_mean, got "
                       f"classes {missing} with no training shape")
    means, threshold, n_val = class_mean_threshold(train, key)
    out["class_mean"] = {**evaluate_lookup(means, per_view(test["labels"]), test, kind,
                                           threshold=threshold), "n_val": n_val}
  nearest = baselines.nearest_neighbours(test["shapes"], train["shapes"])
  out["oracle_retrieval"] = evaluate_lookup(train["shapes"], per_view(nearest), test, kind)
  return out


def closed_form_rows(config, dataset: dict, pairs: tuple, labeled: dict, keep: int = 0) -> dict:
  """Low-dim LS (PCA on every training image and shape, the mapping on the labeled pairs) and
  direct LS (labeled pairs only) for each labeled fraction, scored by :func:`evaluate`.

  labeled: {fraction: the pair rows the training loop labeled for it}, so that both fit the
  same pairs as the deep runs. Returns {fraction: {"lowdim": scores, "direct": scores}}.
  """
  train, test, kind = dataset["train"], dataset["test"], dataset["kind"]
  x, shape_index = image_rows(train, pairs)
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


ROW_KINDS = ("closed_form", "deep", "baseline")
"""The kinds of results.json's rows."""
BASELINES = ("mean_shape", "class_mean", "nn_retrieval_pixels", "nn_retrieval_codes",
             "oracle_retrieval")
"""The names of the baseline rows, in their order in results."""


def json_scores(scores: dict) -> dict:
  """``scores`` without the arrays kept for figures ("kept", "vertex_error_map")."""
  return {k: v for k, v in scores.items() if k not in ("kept", "vertex_error_map")}


def result_row(dataset: str, name: str, kind: str, scores: dict, **context) -> dict:
  """One row of results.json's ``rows``: {"dataset", "name", "kind" (one of ROW_KINDS),
  **context (e.g. "labeled_fraction", "encoder"), "rmse", "rmse_per_view", "iou" and
  "iou_threshold" (voxels) or "vertex_error" (points), ...}, from :func:`evaluate`'s scores."""
  check_choice("kind", kind, ROW_KINDS)
  return {"dataset": dataset, "name": name, "kind": kind, **context, **json_scores(scores)}


def split_sizes(dataset: dict, n_train_pairs: int) -> dict:
  """results.json's description of a paired dataset: {"kind", "n_train", "n_test" (shapes),
  "views", "n_train_pairs" (the (image, shape) pairs training may use), "n_test_pairs"}."""
  n_test, views = dataset["test"]["images"].shape[:2]
  return {"kind": dataset["kind"], "n_train": int(len(dataset["train"]["shapes"])),
          "n_test": int(n_test), "views": int(views), "n_train_pairs": int(n_train_pairs),
          "n_test_pairs": int(n_test * views)}


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
