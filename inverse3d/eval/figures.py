"""Figures of the mapping experiments, closed form and deep: validation curves (Fig. 9),
reconstruction grids (Figs. 4, 5, 7, 8), face error heat maps, one identity at three poses
(Fig. 10), test RMSE against the number of labeled pairs, the closed-form sweep, and a grid of
face images with their ground truth (the GAN training data). Drawn with the primitives of
:mod:`inverse3d.eval.plots`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from inverse3d.checks import check_positive_int, check_shape
from inverse3d.eval import plots
from inverse3d.render.camera import DEPTH_RANGE


def _draw_shape(ax, shape, kind: str, dims, title: str = "") -> None:
  if kind == "voxels":
    plots.plot_voxels(ax, np.reshape(shape, dims) > 0.5, title=title)
  else:
    plots.plot_points(ax, np.reshape(shape, dims), title=title)


def curves_figure(curves: dict, title: str):
  """Validation RMSE against epoch, one line per run. curves: name -> (epochs (T,), rmse (T,))."""
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, (epochs, rmse) in curves.items():
    ax.plot(epochs, rmse, "o-", ms=3, label=name)
  ax.set_xlabel("fine-tuning epoch (labeled pairs)")
  ax.set_ylabel("validation RMSE")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return fig


def reconstruction_figure(images: np.ndarray, truths: np.ndarray, preds: dict, kind: str,
                          dims, title: str):
  """Rows of input image | ground truth | one column per predictor.

  images (n, S, S) in [0, 1]; truths (n, D); preds: label -> (n, D); dims: the per-sample
  shape, (V, 3) or (30, 30, 30).
  """
  n, cols = len(images), 2 + len(preds)
  fig, axes = plots.figure_grid(n, cols, three_d_cols=tuple(range(1, cols)), cell=2.0)
  for r in range(n):
    plots.show_image(axes[r, 0], images[r], "input" if r == 0 else "")
    columns = [("ground truth", truths[r])] + [(label, p[r]) for label, p in preds.items()]
    for c, (label, shape) in enumerate(columns, start=1):
      _draw_shape(axes[r, c], shape, kind, dims, label if r == 0 else "")
  fig.suptitle(title, fontsize=9)
  return fig


def heatmap_figure(mean_face: np.ndarray, error_maps: dict, title: str):
  """Mean per-vertex test error of each predictor on the mean face, seen from the front.

  mean_face (V, 3) (+y up, +z to the viewer); error_maps: label -> (V,) errors.
  """
  fig, axes = plt.subplots(1, len(error_maps), figsize=(3.2 * len(error_maps), 3.8),
                           squeeze=False)
  vmax = max(float(np.max(e)) for e in error_maps.values())
  order = np.argsort(mean_face[:, 2])
  for ax, (label, errors) in zip(axes[0], error_maps.items()):
    sc = ax.scatter(mean_face[order, 0], mean_face[order, 1], c=np.asarray(errors)[order], s=4,
                    cmap="inferno", vmin=0, vmax=vmax, linewidths=0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"{label}\nmean {np.mean(errors):.4f}", fontsize=9)
  fig.colorbar(sc, ax=axes[0].tolist(), shrink=0.8, label="per-vertex error")
  fig.suptitle(title, fontsize=10)
  return fig


def poses_figure(images: np.ndarray, truth: np.ndarray, preds: np.ndarray, angles, dims,
                 title: str):
  """One identity at several poses (Fig. 10): row 1 the input views, row 2 the reconstruction
  from each, row 3 the ground truth. images (A, S, S); truth (D,); preds (A, D); angles (A,)."""
  views = len(images)
  fig = plt.figure(figsize=(3.0 * views, 8.0))
  for a in range(views):
    plots.show_image(fig.add_subplot(3, views, a + 1), images[a], f"input, yaw {angles[a]:g}")
    _draw_shape(fig.add_subplot(3, views, views + a + 1, projection="3d"), preds[a], "points",
                dims, "reconstruction")
  _draw_shape(fig.add_subplot(3, views, 2 * views + (views + 1) // 2, projection="3d"), truth,
              "points", dims, "ground truth")
  fig.suptitle(title, fontsize=10)
  return fig


def labeled_figure(series: dict, title: str):
  """Test RMSE against the number of labeled pairs (log x), one line per series.

  series: label -> (n_labeled (T,), rmse (T,)).
  """
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, (counts, rmse) in series.items():
    order = np.argsort(counts)
    ax.plot(np.asarray(counts)[order], np.asarray(rmse)[order], "o-", label=label)
  ax.set_xscale("log")
  ax.set_xlabel("labeled (image, shape) pairs")
  ax.set_ylabel("test RMSE")
  ax.grid(alpha=0.3, which="both")
  ax.legend(fontsize=7)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  return fig


METHOD_LABELS = {"lowdim": "low-dim LS", "direct": "direct LS", "mean_shape": "mean shape",
                 "class_mean": "class mean", "nn_retrieval_pixels": "nearest image (pixels)",
                 "nn_retrieval_codes": "nearest image (codes)",
                 "oracle_retrieval": "oracle retrieval"}
"""Display names of the closed-form predictors and the baselines."""


def sweep_figure(rows: list, results: list, name: str, config, kind: str):
  """Test RMSE against k_image, k_shape, ridge and the number of labeled shapes (one knob varied
  at a time), beside the main direct LS and every baseline of ``results`` (the dataset's rows
  of results.json); ``kind`` is the dataset's shape kind ('points' or 'voxels'), which picks
  config.k_shape."""
  direct = next(r["rmse"] for r in results if r["name"] == "direct")
  baselines = [r for r in results if r["kind"] == "baseline"]
  fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
  for ax, knob in zip(axes, ("k_image", "k_shape", "ridge", "n_labeled")):
    for method, style in (("lowdim", "o-"), ("direct", "s--")):
      pts = sorted((r["value"], r["rmse"]) for r in rows
                   if r["knob"] == knob and r["method"] == method)
      if pts:
        values = np.array(pts)
        x = values[:, 0] if knob != "ridge" else np.maximum(values[:, 0], 1e-4)
        ax.plot(x, values[:, 1], style, label=METHOD_LABELS[method])
    ax.axhline(direct, color="C1", lw=0.8, ls=":", label=f"direct LS (ridge {config.ridge:g})")
    for i, r in enumerate(baselines):
      ax.axhline(r["rmse"], color=f"C{i + 2}", lw=0.8, ls="-.", label=METHOD_LABELS[r["name"]])
    ax.set_xscale("log")
    ax.set_xlabel(knob + (" (0 drawn at 1e-4)" if knob == "ridge" else ""))
    ax.set_ylabel("test RMSE")
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle(f"{name}: closed-form sweep (k_image {config.k_image}, "
               f"k_shape {config.k_shape[kind]}, ridge {config.ridge:g} unless varied)",
               fontsize=9)
  fig.tight_layout()
  return fig


def face_images_figure(samples: dict, rows: int, title: str = "Procedural face images"):
  """A grid of face images with their ground truth: image | depth | mask for each sample.

  samples: as ``inverse3d.data.procedural_face_images`` returns (images (N, H, W, 3), depth
  (N, H, W), mask (N, H, W), view (N, 6) radians, light (N, 4)); ``rows`` rows of
  ceil(N / rows) samples, each titled with its yaw, pitch (degrees) and light dx. Depth is
  drawn near = bright over the face, the background black.
  """
  bind = check_shape("samples['images']", samples["images"], ("N", "H", "W", 3))
  for name, shape in (("depth", ("N", "H", "W")), ("mask", ("N", "H", "W")),
                      ("view", ("N", 6)), ("light", ("N", 4))):
    check_shape(f"samples[{name!r}]", samples[name], shape)
  n = bind["N"]
  rows = check_positive_int("rows", rows, maximum=n)
  per_row = -(-n // rows)
  fig, axes = plots.figure_grid(rows, 3 * per_row, cell=1.3)
  for ax in axes.ravel():
    ax.set_axis_off()
  for i in range(n):
    r, c = divmod(i, per_row)
    mask = np.asarray(samples["mask"][i])
    yaw, pitch = np.rad2deg(samples["view"][i][1]), np.rad2deg(samples["view"][i][0])
    dx = float(samples["light"][i][2])
    plots.show_image(axes[r, 3 * c], samples["images"][i],
                     f"yaw {yaw:+.0f} pitch {pitch:+.0f}\nlight dx {dx:+.2f}")
    depth = np.asarray(samples["depth"][i], np.float64)
    shown = depth[mask] if mask.any() else np.asarray(DEPTH_RANGE)
    low, high = shown.min(), max(shown.max(), shown.min() + 1e-6)
    nearness = np.where(mask, (high - depth) / (high - low), 0.0) * 0.8 + 0.2 * mask
    plots.show_image(axes[r, 3 * c + 1], nearness, f"depth {low:.3f}-{high:.3f}")
    plots.show_image(axes[r, 3 * c + 2], mask.astype(np.float32), "mask")
  fig.suptitle(title, fontsize=9)
  return fig
