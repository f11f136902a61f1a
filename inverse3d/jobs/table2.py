"""The Table 2 job: closed-form low-dim LS vs direct LS vs the mean shape, on each dataset.

Writes to the workdir: results.json, results.md (the table), metrics.jsonl (one line per sweep
point), figures/table2_<dataset>_samples.png (input | ground truth | low-dim | direct),
figures/table2_<dataset>_sweep.png (test RMSE against k_image, k_shape, ridge and labeled
pairs) and, for faces, figures/table2_<dataset>_heatmap.png (per-vertex error on the mean face).
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from inverse3d import linear
from inverse3d.data.pairs import make_paired_dataset
from inverse3d.eval import closed_form_scores
from inverse3d.eval import figures
from inverse3d.files import atomic_write, save_figure, write_json
from inverse3d.mapping.data import check_dataset
from inverse3d.mapping.scores import evaluate
from inverse3d.progress import MetricsWriter, Progress

PAPER_TABLE2 = {"faces": (0.8727, 2.2869), "ModelNet": (0.0970, 0.1469),
                "ShapeNet": (0.0712, 0.2455)}
"""The paper's Table 2, (low-dim LS, direct LS) average test RMSE."""


def _rows(split: dict):
  """Image rows (N*A, d_x) and their shape index (N*A,) for images (N, A, S, S)."""
  n, views = split["images"].shape[:2]
  return split["images"].reshape(n * views, -1), np.repeat(np.arange(n), views)


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
  x, index = _rows(train)
  x_test, test_index = _rows(test)
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


def run_dataset(name: str, config, key, workdir: str, writer: MetricsWriter) -> dict:
  """Fits and evaluates the three predictors on one dataset; draws its figures."""
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
  x, index = _rows(train)
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
  mean_shape = jnp.asarray(train["shapes"]).mean(0)
  predictors = {"lowdim": lambda im: linear.predict(lowdim, im),
                "direct": lambda im: linear.predict(direct, im),
                "mean_shape": lambda im: jnp.broadcast_to(mean_shape, (len(im), len(mean_shape)))}
  scores = {method: evaluate(f, test, kind, dataset["shape_shape"])
            for method, f in predictors.items()}
  for method, score in scores.items():
    writer.write(dataset=name, method=method, rmse=score["rmse"])
    logging.info("%s %s: RMSE %.4f", name, method, score["rmse"])

  figure_dir = os.path.join(workdir, "figures")
  sweep = _sweep(config, kind, train, test, image_pca, shape_pca, writer, name)
  save_figure(figures.sweep_figure(sweep, scores, name, config, kind),
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
    mean_face = np.asarray(mean_shape).reshape(-1, 3)
    maps = {figures.METHOD_LABELS[m]: score.pop("vertex_error_map") for m, score in scores.items()}
    save_figure(figures.heatmap_figure(mean_face, maps,
                                       f"{name}: per-vertex test error on the mean face"),
                os.path.join(figure_dir, f"table2_{name}_heatmap.png"))
  return {"kind": kind, "n_train": int(len(train["shapes"])), "n_test": int(len(test["shapes"])),
          "views": int(train["images"].shape[1]), "k_image": config.k_image,
          "k_shape": config.k_shape[kind], "ridge": config.ridge, **scores}


def results_table(results: dict) -> str:
  """Markdown table of the test scores per dataset and method."""
  lines = ["| dataset | shapes train/test x views | low-dim LS RMSE | direct LS RMSE | "
           "mean-shape RMSE | IoU@0.5 low-dim / direct / mean |",
           "|---|---|---|---|---|---|"]
  for name, r in results.items():
    iou = (" / ".join(f"{r[m]['iou']:.3f}" for m in ("lowdim", "direct", "mean_shape"))
           if r["kind"] == "voxels" else "-")
    lines.append(f"| {name} | {r['n_train']}/{r['n_test']} x {r['views']} | "
                 f"{r['lowdim']['rmse']:.4f} | {r['direct']['rmse']:.4f} | "
                 f"{r['mean_shape']['rmse']:.4f} | {iou} |")
  return "\n".join(lines) + "\n"


def run(config, workdir: str) -> dict:
  """Runs every dataset in ``config.datasets``; writes results.json and results.md."""
  writer = MetricsWriter(workdir, fresh=True)  # every line is recomputed, on a rerun too
  keys = jax.random.split(jax.random.key(config.seed), len(config.datasets))
  results = {name: run_dataset(name, config, key, workdir, writer)
             for name, key in zip(config.datasets, keys)}
  write_json(os.path.join(workdir, "results.json"), results)
  table = results_table(results)
  with atomic_write(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table)
  print(table)
  return results
