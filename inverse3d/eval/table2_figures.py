"""Figures of the closed-form comparison: sample reconstructions, the sweep, face heat maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from inverse3d.eval import plots

_LABELS = {"lowdim": "low-dim LS", "direct": "direct LS", "mean_shape": "mean shape"}


def samples_figure(images: np.ndarray, shapes: np.ndarray, preds: dict, dataset: dict):
  """Rows: input image | ground truth | one column per prediction in ``preds``.

  images (n, S, S); shapes (n, D); preds: method -> (n, D); dataset: a paired dataset dict
  (its 'kind' and 'shape_dims' say how to draw a shape vector).
  """
  n = len(images)
  cols = 2 + len(preds)
  fig, axes = plots.figure_grid(n, cols, three_d_cols=tuple(range(1, cols)), cell=2.0)
  dims = dataset["shape_dims"]
  for r in range(n):
    plots.show_image(axes[r, 0], images[r], "input" if r == 0 else "")
    columns = [("ground truth", shapes[r])] + [(_LABELS[m], p[r]) for m, p in preds.items()]
    for c, (title, shape) in enumerate(columns, start=1):
      title = title if r == 0 else ""
      if dataset["kind"] == "voxels":
        plots.plot_voxels(axes[r, c], np.reshape(shape, dims) > 0.5, title=title)
      else:
        plots.plot_points(axes[r, c], np.reshape(shape, dims), title=title)
  return fig


def sweep_figure(rows: list, scores: dict, name: str, config, kind: str):
  """Test RMSE against k_image, k_shape, ridge and the number of labeled shapes (one knob varied
  at a time); ``kind`` is the dataset's shape kind ('points' or 'voxels'), which picks
  config.k_shape."""
  fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
  for ax, knob in zip(axes, ("k_image", "k_shape", "ridge", "n_labeled")):
    for method, style in (("lowdim", "o-"), ("direct", "s--")):
      pts = sorted((r["value"], r["rmse"]) for r in rows
                   if r["knob"] == knob and r["method"] == method)
      if pts:
        values = np.array(pts)
        x = values[:, 0] if knob != "ridge" else np.maximum(values[:, 0], 1e-4)
        ax.plot(x, values[:, 1], style, label=_LABELS[method])
    ax.axhline(scores["direct"]["rmse"], color="C1", lw=0.8, ls=":",
               label=f"direct LS (ridge {config.ridge:g})")
    ax.axhline(scores["mean_shape"]["rmse"], color="gray", lw=0.8, ls="-.", label="mean shape")
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


def heatmap_figure(mean_face: np.ndarray, error_maps: dict, name: str):
  """Per-vertex mean test error of each method drawn on the mean face (front view, x-y).

  mean_face (V, 3); error_maps: method -> (V,) mean Euclidean error per vertex.
  """
  fig, axes = plt.subplots(1, len(error_maps), figsize=(3.2 * len(error_maps), 3.8))
  vmax = max(float(np.max(e)) for e in error_maps.values())
  order = np.argsort(mean_face[:, 2])  # draw back to front
  for ax, (method, errors) in zip(np.atleast_1d(axes), error_maps.items()):
    sc = ax.scatter(mean_face[order, 0], mean_face[order, 1], c=np.asarray(errors)[order],
                    s=4, cmap="inferno", vmin=0, vmax=vmax, linewidths=0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"{_LABELS[method]}\nmean {np.mean(errors):.4f}", fontsize=9)
  fig.colorbar(sc, ax=axes, shrink=0.8, label="per-vertex error (normalised units)")
  fig.suptitle(f"{name}: per-vertex test error on the mean face", fontsize=10)
  return fig
