"""Drawing primitives for 3D shapes and image grids (matplotlib), shared by every figure."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def surface_voxels(voxels: np.ndarray) -> np.ndarray:
  """Indices (M, 3) of occupied voxels with at least one empty 6-neighbour. voxels: (D, H, W)."""
  occ = np.asarray(voxels) > 0.5
  padded = np.pad(occ, 1)
  interior = occ.copy()
  for axis in range(3):
    for shift in (-1, 1):
      interior &= np.roll(padded, shift, axis=axis)[1:-1, 1:-1, 1:-1]
  return np.argwhere(occ & ~interior)


def plot_voxels(ax, voxels: np.ndarray, title: str = "", elev: float = 20., azim: float = -60.):
  """Draws the surface voxels of a (D, H, W) grid (axis 2 up) as shaded cubes-as-markers."""
  idx = surface_voxels(voxels)
  size = np.shape(voxels)[0]
  if len(idx):
    ax.scatter(idx[:, 0], idx[:, 1], idx[:, 2], c=idx[:, 2], cmap="viridis", marker="s",
               s=7, depthshade=True, linewidths=0)
  _finish_3d(ax, (0, size), (0, size), (0, size), title, elev, azim)


def plot_points(ax, points: np.ndarray, colors=None, title: str = "", elev: float = 15.,
                azim: float = 60., max_points: int = 4000):
  """Draws a (V, 3) point cloud (+y up, +z to the viewer) with optional (V,) or (V,3) colours."""
  points = np.asarray(points)
  step = max(1, len(points) // max_points)
  p = points[::step]
  c = p[:, 2] if colors is None else np.asarray(colors)[::step]
  # Plot with the face's up axis (y) as matplotlib's vertical axis and its +z (towards a
  # frontal viewer) as matplotlib's +y, so azim=90 looks at the face from the front.
  ax.scatter(p[:, 0], p[:, 2], p[:, 1], c=c, s=1.5, linewidths=0,
             cmap=None if np.ndim(c) == 2 else "viridis")
  lo, hi = points.min(0), points.max(0)
  _finish_3d(ax, (lo[0], hi[0]), (lo[2], hi[2]), (lo[1], hi[1]), title, elev, azim)


def _finish_3d(ax, xlim, ylim, zlim, title, elev, azim):
  ax.set_xlim(*xlim)
  ax.set_ylim(*ylim)
  ax.set_zlim(*zlim)
  # zoom: matplotlib leaves a wide empty margin around 3D boxes at the default of 1.
  ax.set_box_aspect((xlim[1] - xlim[0], ylim[1] - ylim[0], zlim[1] - zlim[0]), zoom=1.35)
  ax.view_init(elev=elev, azim=azim)
  ax.set_axis_off()
  if title:
    ax.set_title(title, fontsize=8)


def show_image(ax, image: np.ndarray, title: str = ""):
  """Shows an (H, W), (H, W, 1) or (H, W, 3) image in [0, 1] without axes."""
  image = np.asarray(image)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1,
            interpolation="nearest")
  ax.set_axis_off()
  if title:
    ax.set_title(title, fontsize=8)


def figure_grid(rows: int, cols: int, three_d_cols=(), cell: float = 1.4,
                three_d_scale: float = 1.8):
  """A figure with rows x cols axes; columns in ``three_d_cols`` are 3D axes, drawn
  ``three_d_scale`` times wider than the image columns."""
  widths = [three_d_scale if c in three_d_cols else 1.0 for c in range(cols)]
  height = rows * cell * (1.3 if three_d_cols else 1.0)
  fig = plt.figure(figsize=(sum(widths) * cell, height))
  grid = fig.add_gridspec(rows, cols, width_ratios=widths, wspace=0.05, hspace=0.25,
                          top=1 - 0.5 / height, bottom=0.02)
  axes = np.empty((rows, cols), dtype=object)
  for r in range(rows):
    for c in range(cols):
      kw = {"projection": "3d"} if c in three_d_cols else {}
      axes[r, c] = fig.add_subplot(grid[r, c], **kw)
  return fig, axes
