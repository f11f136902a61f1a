"""The deep mapping job: train every run of a config on one paired dataset, score it beside the
closed form, draw the figures.

    python -m launch.main --config configs/deep_faces.py:dataset=ict_faces --workdir W

Writes to the workdir: data.json (the data config; a resumed job must match it),
runs/<run>/{checkpoints, metrics.jsonl} (the training loop's; a killed job restarted on the same
workdir resumes each run from its last checkpoint), metrics.jsonl (one line per run,
closed-form score and baseline), results.json (``datasets``, ``rows``: every run, the closed
forms and the baselines on the same test pairs, see :mod:`inverse3d.mapping.scores`; ``runs``:
what each run trained), results.md and figures/: <run>_curves.png (validation RMSE vs
epoch, Fig. 9), samples_<run>.png (input | ground truth | deep | low-dim LS, Figs. 4, 5, 7, 8),
heatmap.png and poses_<run>.png (faces), labeled.png (when runs differ in labeled fraction).
"""
from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np
from absl import logging

from inverse3d.data.pairs import make_paired_dataset
from inverse3d.eval import figures
from inverse3d.files import atomic_write, save_figure, write_json
from inverse3d.mapping.data import (check_dataset, guard_data_config, image_rows, loop_data,
                                    resolve_shape_shape, training_pairs)
from inverse3d.mapping.scores import (BASELINES, closed_form_rows, encode_views, evaluate,
                                      json_scores, pca_bases, result_row, retrieval_scores,
                                      shape_baselines, split_sizes)
from inverse3d.mapping.registry import build_model
from inverse3d.progress import MetricsWriter, Progress
from inverse3d.train.distributed import is_lead
from inverse3d.mapping.loop import train

RUN_FIELDS = ("model", "train", "pca_init")


def run_config(config, name: str, shape_shape) -> ml_collections.ConfigDict:
  """The config of run ``name``: ``config`` with the run's ``model``/``train`` fields replaced
  whole (component specs are not merged) and its ``pca_init``; shape_shape from the data;
  without ``runs`` and ``closed_form``, so that the run's checkpoints do not depend on them."""
  changes = config.runs[name]
  unknown = sorted(set(changes) - set(RUN_FIELDS))
  if unknown:
    raise ValueError(f"config.runs.{name}: expected fields among {list(RUN_FIELDS)}, got "
                     f"unknown {unknown}")
  merged = ml_collections.ConfigDict(config.to_dict())
  for section in ("model", "train"):
    for key, value in changes.get(section, {}).items():
      merged[section][key] = value
  merged.pca_init = changes.get("pca_init", config.pca_init)
  del merged["runs"], merged["closed_form"]  # the other runs' and the closed form's fields
  merged.model.shape_shape = resolve_shape_shape(merged.model.shape_shape, shape_shape,
                                                 f"{model_path(config, name)}.shape_shape")
  return merged


def model_path(config, name: str) -> str:
  """Where run ``name``'s model fields come from, for error messages: its own ``model``
  overrides, or the shared ``config.model``."""
  return f"config.runs.{name}.model" if "model" in config.runs[name] else "config.model"


def validation_curve(metrics_path: str, batch_size: int, n_labeled: int) -> tuple:
  """(fine-tuning epochs (T,), validation RMSE (T,)) from a run's metrics.jsonl."""
  with open(metrics_path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  points = [r for r in records if r.get("stage") == "finetune" and "test_rmse" in r]
  first = min((r["step"] for r in records if r.get("stage") == "finetune"), default=1) - 1
  epochs = [(r["step"] - first) * batch_size / n_labeled for r in points]
  # A non-finite score is written as null: NaN here.
  return np.asarray(epochs), np.asarray([r["test_rmse"] for r in points], np.float64)


def train_run(config, name: str, dataset: dict, pairs: tuple, workdir: str) -> dict:
  """Trains run ``name`` (resuming from ``workdir/runs/name``) and scores it on the test set,
  beside retrieval of the nearest labeled training image in its trained image code."""
  rc = run_config(config, name, dataset["shape_shape"])
  model = build_model(rc.model, model_path(config, name))
  data = loop_data(dataset, pairs, model.image_shape, model.shape_shape, config.data.n_val)
  run_dir = os.path.join(workdir, "runs", name)
  trained = train(rc, run_dir, data, pca=pca_bases(rc.model, rc.pca_init, data["images"],
                                                   dataset["train"]["shapes"], rc.seed,
                                                   name=config.data.name))
  params, labeled = trained["params"], trained["labeled_rows"]
  predict = jax.jit(lambda x: model.apply({"params": params}, x, method="predict"))
  test, kind = dataset["test"], dataset["kind"]
  scores = evaluate(predict, test, kind, model.shape_shape, image_shape=model.image_shape,
                    keep=config.figure_samples)
  # nn_retrieval_codes: the nearest labeled training image in this run's trained 2D code.
  encode = jax.jit(lambda x: model.apply({"params": params}, x, method="encode_images"))
  shape_index, view_index = pairs[0][labeled], pairs[1][labeled]
  train_codes = encode_views(encode, dataset["train"]["images"][shape_index, view_index],
                             model.image_shape)
  test_codes = encode_views(encode, test["images"].reshape(-1, *test["images"].shape[2:]),
                            model.image_shape)  # shape-major, as retrieval_scores reads them
  retrieval = retrieval_scores(train_codes, shape_index, test_codes, dataset["train"]["shapes"],
                               test, kind)
  return {"scores": scores, "retrieval": retrieval, "n_labeled": len(labeled),
          "labeled_rows": labeled, "labeled_fraction": float(rc.train.labeled_fraction),
          "pretrained": bool(rc.pca_init) or bool({"image_ae", "shape_ae"} & set(rc.train.stages)),
          "components": {k: rc.model[k]["name"] for k in ("image_encoder", "mapping",
                                                          "shape_decoder")},
          "stages": list(rc.train.stages),
          "steps": {s: int(rc.train.steps[s]) for s in rc.train.stages},
          "train_seconds": round(trained["train_seconds"], 1),
          "curve": validation_curve(os.path.join(run_dir, "metrics.jsonl"),
                                    rc.train.batch_size, len(labeled))}


def draw(config, workdir: str, dataset: dict, runs: dict, closed: dict, rows: list) -> None:
  """Every figure of the module docstring; the labeled-pairs figure from results.json's rows."""
  figure_dir = os.path.join(workdir, "figures")
  name, kind, dims = config.data.name, dataset["kind"], dataset["shape_shape"]
  test, k = dataset["test"], config.figure_samples
  middle = test["images"].shape[1] // 2
  full = closed[1.0] if 1.0 in closed else closed[max(closed)]
  curves = {run: r["curve"] for run, r in runs.items() if len(r["curve"][0])}
  if curves:
    save_figure(figures.curves_figure(curves, f"{name}: validation RMSE while fine-tuning"),
                os.path.join(figure_dir, "curves.png"))
  for run, r in runs.items():
    preds = {f"deep ({run})": r["scores"]["kept"][:, middle],
             "low-dim LS": full["lowdim"]["kept"][:, middle]}
    save_figure(figures.reconstruction_figure(
        test["images"][:k, middle], test["shapes"][:k], preds, kind, dims,
        f"{name}, run {run}: test RMSE {r['scores']['rmse']:.4f}"),
        os.path.join(figure_dir, f"samples_{run}.png"))
    if kind == "points":
      save_figure(figures.poses_figure(
          test["images"][0], test["shapes"][0], r["scores"]["kept"][0],
          dataset["view_angles"], dims, f"{name}, run {run}: one test identity, three poses"),
          os.path.join(figure_dir, f"poses_{run}.png"))
  if kind == "points":
    maps = {f"deep ({run})": r["scores"]["vertex_error_map"] for run, r in runs.items()}
    maps["low-dim LS"] = full["lowdim"]["vertex_error_map"]
    mean_face = np.reshape(dataset["train"]["shapes"].mean(0), dims)
    save_figure(figures.heatmap_figure(mean_face, maps, f"{name}: per-vertex test error"),
                os.path.join(figure_dir, "heatmap.png"))
  if len(closed) > 1:
    series = {}
    for pretrained, label in ((True, "pre-trained + mapping + fine-tune"),
                              (False, "supervised only")):
      pts = [(r["n_labeled"], r["scores"]["rmse"]) for r in runs.values()
             if r["pretrained"] == pretrained]
      if pts:
        series[label] = tuple(np.asarray(pts).T)
    counts = {r["labeled_fraction"]: r["n_labeled"] for r in runs.values()}
    for method, label in (("lowdim", "low-dim LS (PCA on all)"), ("direct", "direct LS"),
                          ("nn_retrieval_pixels", "nearest image (pixels)")):
      pts = [(counts[r["labeled_fraction"]], r["rmse"]) for r in rows if r["name"] == method]
      series[label] = tuple(np.asarray(pts).T)
    save_figure(figures.labeled_figure(series, f"{name}: test RMSE vs labeled pairs"),
                os.path.join(figure_dir, "labeled.png"))


def results_table(name: str, runs: dict, rows: list) -> str:
  """Markdown rows: every row of results.json, the runs with their models and training."""
  lines = ["| dataset | model (encoder / mapping / decoder) | labeled pairs | stages (steps) | "
           "test RMSE | IoU / vertex error | train s |", "|---|---|---|---|---|---|---|"]
  counts = {r["labeled_fraction"]: r["n_labeled"] for r in runs.values()}
  for row in rows:
    second = f"{row['iou']:.4f}" if "iou" in row else f"{row['vertex_error']:.4f}"
    if row["kind"] == "deep":
      r = runs[row["name"]]
      model = " / ".join(r["components"].values())
      stages = ", ".join(f"{s} {n}" for s, n in r["steps"].items())
      lines.append(f"| {name} | {row['name']}: {model} | {r['n_labeled']} | {stages} | "
                   f"{row['rmse']:.5f} | {second} | {r['train_seconds']} |")
      continue
    label = (("closed form: " if row["kind"] == "closed_form" else "baseline: ")
             + figures.METHOD_LABELS[row["name"]]
             + (f" ({row['encoder']}'s encoder)" if "encoder" in row else ""))
    lines.append(f"| {name} | {label} | {counts.get(row.get('labeled_fraction'), '-')} | - | "
                 f"{row['rmse']:.5f} | {second} | - |")
  return "\n".join(lines) + "\n"


def result_rows(config, dataset: dict, pairs: tuple, runs: dict, closed: dict,
                labeled: dict) -> list:
  """results.json's rows: every run, the closed form and nn_retrieval_pixels at each labeled
  fraction (``labeled``: fraction -> labeled pair rows), each run's nn_retrieval_codes, and the
  baselines that read no image (:func:`inverse3d.mapping.scores.shape_baselines`)."""
  name, kind, train, test = config.data.name, dataset["kind"], dataset["train"], dataset["test"]
  rows = [result_row(name, run, "deep", r["scores"], labeled_fraction=r["labeled_fraction"])
          for run, r in runs.items()]
  rows += [result_row(name, method, "closed_form", scores, labeled_fraction=fraction)
           for fraction, methods in closed.items() for method, scores in methods.items()]
  found = shape_baselines(train, test, kind, jax.random.fold_in(jax.random.key(config.seed), 13))
  x, shape_index = image_rows(train, pairs)
  x_test, _ = image_rows(test)
  for method in BASELINES:
    if method == "nn_retrieval_pixels":
      rows += [result_row(name, method, "baseline", retrieval_scores(
          x[r], shape_index[r], x_test, train["shapes"], test, kind), labeled_fraction=fraction)
               for fraction, r in sorted(labeled.items())]
    elif method == "nn_retrieval_codes":
      rows += [result_row(name, method, "baseline", r["retrieval"],
                          labeled_fraction=r["labeled_fraction"], encoder=run)
               for run, r in runs.items()]
    elif method in found:
      rows.append(result_row(name, method, "baseline", found[method]))
  return rows


def run(config, workdir: str) -> dict:
  """Builds the dataset, trains and scores every run in ``config.runs``, fits the closed form
  on the same pairs, writes results and figures. Returns the results dict.

  In a multi-process run every process trains and scores; only the lead writes files."""
  lead = is_lead()
  guard_data_config(workdir, config.data, write=lead)
  d = config.data
  key_data, key_pairs = jax.random.split(jax.random.key(config.seed))
  dataset = make_paired_dataset(d.name, key_data, d.n_train, d.n_test,
                                image_size=d.image_size, face_vertices=d.face_vertices,
                                face_modes=d.face_modes, data_dir=d.data_dir or None)
  check_dataset(d.name, dataset)
  n_shapes, n_views = dataset["train"]["images"].shape[:2]
  pairs = training_pairs(key_pairs, n_shapes, n_views, d.views_per_shape)
  for name in config.runs:  # every run's config is checked before anything trains
    build_model(run_config(config, name, dataset["shape_shape"]).model, model_path(config, name))
  # Every line is recomputed, on a rerun too.
  writer = MetricsWriter(workdir, fresh=True) if lead else None
  progress = Progress(f"runs on {d.name}", total=len(config.runs), unit="runs", every_s=0)
  runs = {}
  for name in config.runs:
    runs[name] = train_run(config, name, dataset, pairs, workdir)
    if lead:
      writer.write(run=name, dataset=d.name, **json_scores(runs[name]["scores"]))
    logging.info("%s %s: test RMSE %.5f", d.name, name, runs[name]["scores"]["rmse"])
    progress.update(1, rmse=runs[name]["scores"]["rmse"])
  progress.close()
  labeled = {r["labeled_fraction"]: r["labeled_rows"] for r in runs.values()}
  closed = closed_form_rows(config, dataset, pairs, labeled, keep=config.figure_samples)
  rows = result_rows(config, dataset, pairs, runs, closed, labeled)
  results = {"datasets": {d.name: split_sizes(dataset, len(pairs[0]))}, "rows": rows,
             "runs": {name: {k: v for k, v in r.items()
                             if k not in ("scores", "retrieval", "curve", "labeled_rows")}
                      for name, r in runs.items()}}
  if not lead:
    return results
  for fraction, methods in closed.items():
    for method, scores in methods.items():
      writer.write(run=f"closed_form_{method}", dataset=d.name, labeled_fraction=fraction,
                   **json_scores(scores))
  for row in rows:
    if row["kind"] == "baseline":
      writer.write(run=f"baseline_{row['name']}",
                   **{k: v for k, v in row.items() if k not in ("name", "kind")})
  draw(config, workdir, dataset, runs, closed, rows)
  write_json(os.path.join(workdir, "results.json"), results)
  table = results_table(d.name, runs, rows)
  with atomic_write(os.path.join(workdir, "results.md"), "w") as f:
    f.write(table)
  print(table)
  return results
