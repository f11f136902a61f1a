"""Benchmark: the closed-form ModelNet10 row of Table 2, inverse3d.linear versus NumPy/scikit-learn.

    pip install -e .[bench]          # scikit-learn for the baseline
    python benchmarks/closed_form.py [--rounds 2] [--limit N] [--ridge 0] [--k-image 60]
                                     [--k-shape 400] [--power-iters 4]

Data: the 3,991 ModelNet10 training shapes (30^3 voxels, 27,000 values each) rendered from the 8
OBJECT_VIEW_ANGLES at 32x32 (31,928 image rows of 1,024 pixels); the 908 test shapes likewise.
Each implementation fits and predicts, on the test images, both predictors of section 4.1:

- low-dim LS (eqs 2-9): image PCA (k_image), shape PCA (k_shape), least squares between codes;
- direct LS (eqs 10-11): least squares from pixels to voxels.

Both sides use the same equations and solvers: randomized PCA (Halko et al.; 10 extra test
vectors, the same power iterations), ridge normal equations with an unpenalised bias and a
pseudo-inverse. The baseline pairs images and shapes the usual way, repeating each shape for its
8 views (shapes[index]: a 31,928 x 27,000 matrix); inverse3d.linear takes ``shape_index`` and
never builds it.

Each implementation runs in its own process (so its peak resident memory can be read), fitting
and predicting twice per process (the first call of the JAX side includes compilation); the
processes alternate for --rounds rounds and the table reports the best warm time of each (about
12 minutes for 2 rounds on 2 busy CPU cores).
Test RMSE is per element (inverse3d.eval.metrics.rmse) over all test views; the paper's Table 2
reports 0.0970 (low-dim) and 0.1469 (direct) for ModelNet.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

from inverse3d.files import atomic_write
from inverse3d.progress import Progress

PAPER_RMSE = {"lowdim": 0.0970, "direct": 0.1469}  # Table 2, ModelNet row
TIMED = ("lowdim_warm", "direct_warm", "lowdim_first", "direct_first", "peak_rss", "above_data")
ROWS = {"lowdim_warm": ("low-dim LS fit+predict (s)", 1.0),
        "direct_warm": ("direct LS fit+predict (s)", 1.0),
        "total": ("total fit+predict (s)", 1.0),
        "lowdim_first": ("low-dim LS first call (s)", 1.0),
        "direct_first": ("direct LS first call (s)", 1.0),
        "peak_rss": ("peak RSS (GiB)", 2.0 ** 30),
        "above_data": ("peak RSS above data (GiB)", 2.0 ** 30)}


def prepare(path: str, limit: int | None) -> None:
  """Renders the train and test views once and saves them (uint8 voxels, float32 images)."""
  from inverse3d.data import OBJECT_VIEW_ANGLES, load_modelnet10, render_voxel_views
  data = load_modelnet10()
  arrays = {}
  for split in ("train", "test"):
    voxels = data[split]["voxels"][:limit].astype(np.uint8)
    arrays[f"{split}_voxels"] = voxels
    arrays[f"{split}_images"] = np.asarray(render_voxel_views(voxels, OBJECT_VIEW_ANGLES, size=32))
  with atomic_write(path) as f:
    np.savez(f, **arrays)


def flat_split(images: np.ndarray, voxels: np.ndarray) -> dict:
  """Flat float32 matrices of one split: images (N, A, S, S) -> images (N * A, S^2) with
  index (N * A,), the shape row of each; voxels (N, G, G, G) or (N, G^3) -> shapes (N, G^3)."""
  n, views = images.shape[:2]
  return dict(images=images.reshape(n * views, -1).astype(np.float32),
              index=np.repeat(np.arange(n, dtype=np.int32), views),
              shapes=voxels.reshape(n, -1).astype(np.float32))


def load(path: str) -> dict:
  """:func:`flat_split` of the train and test views that :func:`prepare` saved."""
  with np.load(path) as f:
    return {split: flat_split(f[f"{split}_images"], f[f"{split}_voxels"])
            for split in ("train", "test")}


def ours(data: dict, args) -> dict:
  """Fit-and-predict callables of inverse3d.linear (JAX)."""
  import jax
  from inverse3d import linear
  train, test = data.pop("train"), data["test"]  # keep only the device copies of train
  key = jax.random.key(args.seed)
  x, z, index = (jax.device_put(train[name]) for name in ("images", "shapes", "index"))
  x_test = jax.device_put(test["images"])

  def lowdim():
    model = linear.fit_lowdim_ls(x, z, args.k_image, args.k_shape, args.ridge, shape_index=index,
                                 method="randomized", key=key, power_iters=args.power_iters)
    return linear.predict(model, x_test).block_until_ready()

  def direct():
    model = linear.fit_direct_ls(x, z, args.ridge, shape_index=index)
    return linear.predict(model, x_test).block_until_ready()

  return dict(lowdim=lowdim, direct=direct)


def _np_ridge(inputs: np.ndarray, targets: np.ndarray, ridge: float):
  """W, c of min |targets - inputs W - c|^2 + ridge |W|^2 by the normal equations and a
  pseudo-inverse with inverse3d.linear's cut-off, max(p, 10) eps (NumPy, in the data's float32).
  ``targets`` is centred in place."""
  input_mean, target_mean = inputs.mean(0), targets.mean(0)
  centred = inputs - input_mean
  targets -= target_mean
  gram = centred.T @ centred + ridge * np.eye(inputs.shape[1], dtype=inputs.dtype)
  cutoff = max(gram.shape[0], 10) * np.finfo(gram.dtype).eps
  weights = np.linalg.pinv(gram, rtol=cutoff, hermitian=True) @ (centred.T @ targets)
  return weights, target_mean - input_mean @ weights


def baseline(data: dict, args) -> dict:
  """Fit-and-predict callables of the same equations in NumPy and scikit-learn (low-dim LS
  only: direct LS needs NumPy alone)."""
  train, test = data.pop("train"), data["test"]
  x, z, index, x_test = train["images"], train["shapes"], train["index"], test["images"]

  def pca(k):
    from sklearn.decomposition import PCA
    return PCA(k, svd_solver="randomized", iterated_power=args.power_iters, n_oversamples=10,
               random_state=args.seed)

  def lowdim():
    image_pca, shape_pca = pca(args.k_image).fit(x), pca(args.k_shape).fit(z)
    weights, bias = _np_ridge(image_pca.transform(x), shape_pca.transform(z)[index], args.ridge)
    return shape_pca.inverse_transform(image_pca.transform(x_test) @ weights + bias)

  def direct():
    weights, bias = _np_ridge(x, z[index], args.ridge)  # z[index]: each shape once per view
    return x_test @ weights + bias

  return dict(lowdim=lowdim, direct=direct)


def scores(pred, test: dict) -> dict:
  """Per-element test RMSE over all views and mean IoU (threshold 0.5)."""
  from inverse3d.eval import metrics
  pred = np.asarray(pred)
  views = len(test["index"]) // len(test["shapes"])
  squared, ious = [], []
  for view in range(views):  # rows are shape-major: view `view` of every shape
    rows = pred[view::views]
    squared.append(float(metrics.rmse(rows, test["shapes"])) ** 2)
    ious.append(np.asarray(metrics.iou(rows, test["shapes"])))
  return dict(rmse=float(np.sqrt(np.mean(squared))), iou=float(np.mean(ious)))


def child(impl: str, path: str, args) -> None:
  """Runs one implementation twice; prints a JSON line of timings, memory and scores."""
  data = load(path)
  runs = (ours if impl == "ours" else baseline)(data, args)
  data_rss = psutil.Process().memory_info().rss  # the data, as each implementation holds it
  result = {}
  for name, run in runs.items():
    for attempt in ("first", "warm"):
      start = time.perf_counter()
      pred = run()
      result[f"{name}_{attempt}"] = time.perf_counter() - start
    result[name] = scores(pred, data["test"])
    del pred
  result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  result["above_data"] = result["peak_rss"] - data_rss
  print(json.dumps(result))


def run_child(impl: str, path: str, argv: list[str]) -> dict:
  done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", impl,
                         "--data", path, *argv], capture_output=True, text=True)
  if done.returncode:
    raise RuntimeError(f"{impl} run failed:\n{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: dict, rows: int, shape_width: int) -> None:
  """Prints the best (smallest) value of each measurement over the rounds, and the scores."""
  best = {impl: {key: min(run[key] for run in runs) for key in TIMED}
          for impl, runs in results.items()}
  for values in best.values():
    values["total"] = values["lowdim_warm"] + values["direct_warm"]
  gib = 2.0 ** 30
  print(f"\n{'':30s} {'inverse3d (JAX)':>16s} {'NumPy/sklearn':>14s} {'baseline/ours':>14s}")
  for key, (label, unit) in ROWS.items():
    ours_value, base_value = best["ours"][key] / unit, best["baseline"][key] / unit
    print(f"{label:30s} {ours_value:16.3f} {base_value:14.3f} {base_value / ours_value:14.2f}")
  print(f"(one repeated shape matrix, {rows} x {shape_width} float32: "
        f"{rows * shape_width * 4 / gib:.2f} GiB)\n")
  print(f"{'test metric':30s} {'inverse3d':>16s} {'NumPy/sklearn':>14s} {'paper':>14s}")
  last = {impl: runs[-1] for impl, runs in results.items()}
  for method in ("lowdim", "direct"):
    print(f"{method + ' RMSE (per element)':30s} {last['ours'][method]['rmse']:16.4f} "
          f"{last['baseline'][method]['rmse']:14.4f} {PAPER_RMSE[method]:14.4f}")
    print(f"{method + ' IoU':30s} {last['ours'][method]['iou']:16.4f} "
          f"{last['baseline'][method]['iou']:14.4f} {'-':>14s}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--limit", type=int, default=None, help="use the first N shapes per split")
  parser.add_argument("--ridge", type=float, default=0.0)
  parser.add_argument("--k-image", type=int, default=60)
  parser.add_argument("--k-shape", type=int, default=400)
  parser.add_argument("--power-iters", type=int, default=4)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--child", choices=("ours", "baseline"), help=argparse.SUPPRESS)
  parser.add_argument("--data", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child(args.child, args.data, args)
    return
  passed = [f"--ridge={args.ridge}", f"--k-image={args.k_image}", f"--k-shape={args.k_shape}",
            f"--power-iters={args.power_iters}", f"--seed={args.seed}"]
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "views.npz")
    start = time.perf_counter()
    prepare(path, args.limit)
    with np.load(path) as f:
      n_shapes, views = f["train_images"].shape[:2]
      width = int(np.prod(f["train_voxels"].shape[1:]))
    print(f"rendered {n_shapes} train shapes x {views} views in {time.perf_counter() - start:.1f}s;"
          f" k_image={args.k_image} k_shape={args.k_shape} ridge={args.ridge} "
          f"power_iters={args.power_iters}", flush=True)
    results = {"ours": [], "baseline": []}
    progress = Progress("closed_form", total=2 * args.rounds, unit="runs", every_s=0)
    for _ in range(args.rounds):
      for impl in ("ours", "baseline"):
        results[impl].append(run_child(impl, path, passed))
        progress.update(1, **{impl: results[impl][-1]["lowdim_warm"] +
                              results[impl][-1]["direct_warm"]})
    progress.close()
  report(results, n_shapes * views, width)


if __name__ == "__main__":
  main()
