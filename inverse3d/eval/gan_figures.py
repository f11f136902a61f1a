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
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6))
  for ax, (name, images) in zip(np.atleast_1d(axes), panels.items()):
    ax.imshow(mosaic(images, columns), interpolation="nearest")
    ax.set_title(name, fontsize=10)
    ax.set_axis_off()
  fig.suptitle(title, fontsize=11)
  return fig
