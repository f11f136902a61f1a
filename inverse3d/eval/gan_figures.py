"""Figures of the GAN: image mosaics, generated beside real, quality over training, coverage."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from inverse3d.checks import check_shape


def mosaic(images: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
  """(N, H, W, 3) images -> one (rows (H + gap), columns (W + gap), 3) tiled image, white gaps."""
  bind = check_shape("images", images, ("N", "H", "W", 3))
  n, h, w = bind["N"], bind["H"], bind["W"]
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  white = 255 if images.dtype == np.uint8 else 1.0
  out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), white, images.dtype)
  for i in range(n):
    r, c = divmod(i, columns)
    out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = images[i]
  return out


def image_grid_figure(images: np.ndarray, title: str, columns: int | None = None):
  """One mosaic of (N, H, W, 3) images (uint8, or floats in [0, 1]) with a title."""
  tiled = mosaic(images, columns)
  scale = max(3.0, tiled.shape[1] / 90)
  fig, ax = plt.subplots(figsize=(scale, scale * tiled.shape[0] / tiled.shape[1] + 0.4))
  ax.imshow(tiled, interpolation="nearest")
  ax.set_title(title, fontsize=9)
  ax.set_axis_off()
  return fig


def side_by_side_figure(panels: dict, title: str, columns: int = 8):
  """Mosaics of several image sets side by side: {panel title: (N, H, W, 3)}."""
  rows = max(math.ceil(len(images) / columns) for images in panels.values())
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels),
                                                    4.2 * min(rows, columns) / columns + 0.6))
  for ax, (name, images) in zip(np.atleast_1d(axes), panels.items()):
    ax.imshow(mosaic(images, columns), interpolation="nearest")
    ax.set_title(name, fontsize=10)
    ax.set_axis_off()
  fig.suptitle(title, fontsize=11)
  return fig


def quality_figure(rows: list, floor: float, target_span: float = 0.8):
  """Frechet distance and coverage spans over training.

  rows: [{"step", "frechet", "coverage": {factor: {"span"}}}]; floor: the real-real distance.
  """
  steps = [r["step"] for r in rows]
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
  left.plot(steps, [r["frechet"] for r in rows], "o-", label="generated vs real test")
  left.axhline(floor, color="gray", ls="--", label="real vs real (floor)")
  left.set_yscale("log")
  left.set_xlabel("iteration")
  left.set_ylabel("Frechet distance (factor-regressor features)")
  left.legend(fontsize=8)
  for factor in ("yaw_deg", "pitch_deg", "light_dx", "light_dy"):
    right.plot(steps, [r["coverage"][factor]["span"] for r in rows], "o-", label=factor)
  right.axhline(target_span, color="gray", ls="--", label=f"target {target_span:g}")
  right.set_xlabel("iteration")
  right.set_ylabel("5-95% range, generated / real")
  right.legend(fontsize=8)
  fig.tight_layout()
  return fig


def coverage_figure(generated: np.ndarray, real: np.ndarray, truth: np.ndarray, names: tuple,
                    title: str):
  """Histograms per factor: predicted on generated images, predicted on real images, and the
  real images' ground truth. Arrays (N, len(names))."""
  fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0))
  for i, (ax, name) in enumerate(zip(np.atleast_1d(axes), names)):
    values = np.concatenate([generated[:, i], real[:, i], truth[:, i]])
    bins = np.linspace(np.percentile(values, 0.5), np.percentile(values, 99.5), 30)
    ax.hist(truth[:, i], bins, histtype="stepfilled", color="0.85", label="real, true")
    ax.hist(real[:, i], bins, histtype="step", color="k", label="real, predicted")
    ax.hist(generated[:, i], bins, histtype="step", color="C3", lw=1.5,
            label="generated, predicted")
    ax.set_title(name, fontsize=9)
    ax.set_yticks([])
  np.atleast_1d(axes)[0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig


def rows_figure(rows: dict, title: str, labels: dict | None = None):
  """One row of images per entry of ``rows`` {name: (N, H, W, 3)} (same N), the name (and
  ``labels[name]``, e.g. a score) at the row's left."""
  names = list(rows)
  n = len(rows[names[0]])
  fig, axes = plt.subplots(len(names), 1, figsize=(1.0 * n + 1.6, 1.05 * len(names) + 0.5))
  for ax, name in zip(np.atleast_1d(axes), names):
    ax.imshow(mosaic(rows[name], columns=n), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(name + (f"\n{labels[name]}" if labels and name in labels else ""),
                  rotation=0, ha="right", va="center", fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig
