"""The Table 2 job: closed-form low-dim LS vs direct LS vs the baselines, on each dataset.

The baselines (:func:`inverse3d.mapping.scores.shape_baselines`, ``retrieval_scores``) are
scored on the same test pairs: the mean shape, the true class's mean shape (objects), the shape
of the nearest training image in pixels and in the image PCA code of low-dim LS, and the oracle
(the training shape nearest the test shape).

Writes to the workdir: results.json (``datasets`` with the split sizes and the closed form's
settings, ``rows``: see :mod:`inverse3d.mapping.scores`), results.md (the table), metrics.jsonl
(one line per method and sweep point), figures/table2_<dataset>_samples.png (input | ground
truth | low-dim | direct), figures/table2_<dataset>_sweep.png (test RMSE against k_image,
k_shape, ridge and labeled pairs, beside direct LS and the baselines) and, for faces,
figures/table2_<dataset>_heatmap.png (per-vertex error on the mean face, every method).
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import logging

from inverse3d import linear
from inverse3d.data.pairs import make_paired_dataset
from inverse3d.eval import closed_form_scores
from inverse3d.eval import figures
from inverse3d.files import atomic_write, save_figure, write_json
from inverse3d.mapping.data import check_dataset, image_rows
from inverse3d.mapping.scores import (BASELINES, evaluate, result_row, retrieval_scores,
                                      shape_baselines, split_sizes)
from inverse3d.progress import MetricsWriter, Progress

PAPER_TABLE2 = {"faces": (0.8727, 2.2869), "ModelNet": (0.0970, 0.1469),
                "ShapeNet": (0.0712, 0.2455)}
"""The paper's Table 2, (low-dim LS, direct LS) average test RMSE."""


def _truncate(pca: linear.PCA, k: int) -> linear.PCA:
  """The k-component PCA inside a larger one: exact PCA components are nested; randomized
  ones (pca_method) are nested up to the solver's accuracy, best for the top components."""
  return pca._replace(components=pca.components[:k], singular_values=pca.singular_values[:k])


def _sweep(config, kind, train, test, image_pca, shape_pca, writer, name):
  """Test RMSE of low-dim and direct LS varying one knob at a time: k_image, k_shape (low-dim
  only), ridge, and n_labeled, the number of labeled shapes the mappings are fitted on (the PCAs
  keep using every training shape and image, as unlabeled data)."""
  k_image, k_shape, ridge = config.k_image, config.k_shape[kind], config.ridge
  n_train = len(train["shapes"])
  points = ([("k_image", k, k, k_shape, ridge, None) for k in config.sweep.k_image] +
            [("k_shape", k, k_image, k, ridge, None) for k in config.sweep.k_shape] +
            [("ridge", r, k_image, k_shape, r, None) for r in config.sweep.ridge] +
            [("n_labeled", n, k_image, k_shape, ridge, n) for n in config.sweep.n_labeled
             if n <= n_train])
  points = [p for p in points if p[2] <= image_pca.components.shape[0]
            and p[3] <= shape_pca.components.shape[0]]
  x, index = image_rows(train)
  x_test, test_index = image_rows(test)
  lowdim_rmse = closed_form_scores.lowdim_scorer(image_pca, shape_pca, x, train["shapes"], index,
                                                 x_test, test["shapes"], test_index)
  direct_rmse = closed_form_scores.direct_scorer(x_test, test["shapes"], test_index,
                                                 shape_pca.mean)
  progress = Progress(f"sweep {name}", total=len(points), unit="points")
  results = []
  for knob, value, ki, ks, r, n_labeled in points:
    row = {"dataset": name, "knob": knob, "value": float(value), "method": "lowdim",
           "rmse": lowdim_rmse(ki, ks, r, n_labeled)}
    results.append(row)
    writer.write(**row)
    if knob in ("ridge", "n_labeled"):
      labeled = index < (n_train if n_labeled is None else n_labeled)
      direct = linear.fit_direct_ls(x[labeled], train["shapes"][:n_labeled], r,
                                    shape_index=index[labeled])
      row = dict(row, method="direct", rmse=direct_rmse(direct))
      results.append(row)
      writer.write(**row)
    progress.update(1, rmse=row["rmse"])
  progress.close()
  return results


def run_dataset(name: str, config, key, workdir: str, writer: MetricsWriter) -> tuple:
  """Fits and scores the closed forms and the baselines on one dataset; draws its figures.
  Returns (its ``datasets`` entry of results.json, its rows)."""
  key_data, key_fit = jax.random.split(key)
  dataset = make_paired_dataset(name, key_data, config.n_train, config.n_test,
                                image_size=config.image_size,
                                face_vertices=config.face_vertices,
                                face_modes=config.face_modes, data_dir=config.data_dir or None)
  check_dataset(name, dataset)
  kind, train, test = dataset["kind"], dataset["train"], dataset["test"]
  # A random order, so that "the first n labeled shapes" of the sweep is a random subset even
  # where a split is sorted by class (ModelNet10); every fit is invariant to the order.
  order = np.asarray(jax.random.permutation(jax.random.fold_in(key_fit, 2), len(train["shapes"])))
  train = {field: array[order] for field, array in train.items()}
  x, index = image_rows(train)
  k_max_image = min(max(config.k_image, *config.sweep.k_image), x.shape[0] - 1, x.shape[1])
  k_max_shape = min(max(config.k_shape[kind], *config.sweep.k_shape), len(train["shapes"]) - 1)
  image_pca = linear.fit_pca(x, k_max_image, method=config.pca_method, key=key_fit,
                             name=f"{name} train images")
  shape_pca = linear.fit_pca(train["shapes"], k_max_shape, method=config.pca_method,
                             name=f"{name} train shapes",
                             key=jax.random.fold_in(key_fit, 1))
  lowdim = linear.fit_code_mapping(_truncate(image_pca, config.k_image),
                                   _truncate(shape_pca, config.k_shape[kind]), x,
                                   train["shapes"], config.ridge, shape_index=index)
  direct = linear.fit_direct_ls(x, train["shapes"], config.ridge, shape_index=index)
  predictors = {"lowdim": lambda im: linear.predict(lowdim, im),
                "direct": lambda im: linear.predict(direct, im)}
  scores = {method: evaluate(f, test, kind, dataset["shape_shape"])
            for method, f in predictors.items()}
  # The baselines; the closed form's image PCA is the image encoder of nn_retrieval_codes.
  x_test, _ = image_rows(test)
  paired = {"nn_retrieval_pixels": retrieval_scores(x, index, x_test, train["shapes"], test, kind),
            "nn_retrieval_codes": retrieval_scores(
                linear.encode(lowdim.image_pca, x), index,
                linear.encode(lowdim.image_pca, x_test), train["shapes"], test, kind)}
  found = {**shape_baselines(train, test, kind, jax.random.fold_in(key_fit, 3)), **paired}
  rows = [result_row(name, m, "closed_form", s, labeled_fraction=1.0) for m, s in scores.items()]
  rows += [result_row(name, m, "baseline", found[m],
                      **({"labeled_fraction": 1.0} if m in paired else {}))
           for m in BASELINES if m in found]
  scores.update(found)
  for row in rows:
    writer.write(dataset=name, method=row["name"], rmse=row["rmse"])
    logging.info("%s %s: RMSE %.4f", name, row["name"], row["rmse"])

  figure_dir = os.path.join(workdir, "figures")
  sweep = _sweep(config, kind, train, test, image_pca, shape_pca, writer, name)
  save_figure(figures.sweep_figure(sweep, rows, name, config, kind),
              os.path.join(figure_dir, f"table2_{name}_sweep.png"))
  samples = np.arange(config.figure_samples)
  view = test["images"].shape[1] // 2
  images = test["images"][samples, view]
  preds = {m: np.asarray(predictors[m](images.reshape(len(samples), -1)))
           for m in ("lowdim", "direct")}
  save_figure(figures.reconstruction_figure(
      images, test["shapes"][samples], {figures.METHOD_LABELS[m]: p for m, p in preds.items()},
      kind, dataset["shape_shape"], f"{name}: test samples, middle view"),
              os.path.join(figure_dir, f"table2_{name}_samples.png"))
  if kind == "points":
    mean_face = np.asarray(train["shapes"]).mean(0).reshape(-1, 3)
    maps = {figures.METHOD_LABELS[m]: score["vertex_error_map"] for m, score in scores.items()}
    save_figure(figures.heatmap_figure(mean_face, maps,
                                       f"{name}: per-vertex test error on the mean face"),
                os.path.join(figure_dir, f"table2_{name}_heatmap.png"))
  sizes = {**split_sizes(dataset, len(x)), "k_image": config.k_image,
           "k_shape": config.k_shape[kind], "ridge": config.ridge}
  return sizes, rows


def results_table(results: dict) -> str:
  """Markdown table of results.json's rows: every method's test scores per dataset."""
  lines = ["| dataset | shapes train/test x views | method | kind | test RMSE | "
           "IoU / vertex error |", "|---|---|---|---|---|---|"]
  for row in results["rows"]:
    d = results["datasets"][row["dataset"]]
    second = (f"{row['iou']:.3f} (at {row['iou_threshold']:g})" if "iou" in row
              else f"{row['vertex_error']:.4f}")
    lines.append(f"| {row['dataset']} | {d['n_train']}/{d['n_test']} x {d['views']} | "
                 f"{figures.METHOD_LABELS[row['name']]} | {row['kind']} | {row['rmse']:.4f} | "
                 f"{second} |")
  return "\n".join(lines) + "\n"


def run(config, workdir: str) -> dict:
  """Runs every dataset in ``config.datasets``; writes results.json and results.md."""
  writer = MetricsWriter(workdir, fresh=True)  # every line is recomputed, on a rerun too
  keys = jax.random.split(jax.random.key(config.seed), len(config.datasets))
  results = {"datasets": {}, "rows": []}
  for name, key in zip(config.datasets, keys):
    results["datasets"][name], rows = run_dataset(name, config, key, workdir, writer)
    results["rows"] += rows
  write_json(os.path.join(workdir, "results.json"), results)
  table = results_table(results)
  with atomic_write(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table)
  print(table)
  return results
