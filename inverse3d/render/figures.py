"""Figure of one reconstruction: its factors, relit images and rotated views."""
from __future__ import annotations

import numpy as np

from inverse3d.checks import (check_dtype, check_finite, check_positive_int, check_range,
                              check_shape)
from inverse3d.files import save_figure
from inverse3d.render.camera import DEPTH_RANGE, FOV_DEG, check_depth_map
from inverse3d.render.normals import depth_to_normals
from inverse3d.render.shading import shade
from inverse3d.render.warp import render_view

HEAD_ON = (0.5, 0.5, 0.0, 0.0)
MAX_COUNT = 64
"""Most relit / turned columns a figure draws (each is a panel of the figure)."""


def sweep_inputs(count: int, max_yaw_deg: float = 40.0, max_light: float = 1.0):
  """Views (count, 6) turning about the vertical axis and lights (count, 4) sweeping left-right.

  Yaw goes from -max_yaw_deg to +max_yaw_deg; the light keeps ambient 0.4, diffuse 0.6 and
  moves dx from -max_light to +max_light with dy = 0.3 (slightly from above).
  """
  count = check_positive_int("count", count, minimum=2, maximum=MAX_COUNT,
                             hint="one figure column each")
  for name, value in (("max_yaw_deg", max_yaw_deg), ("max_light", max_light)):
    check_shape(name, value, ())
    check_finite(name, value)
  ramp = np.linspace(-1.0, 1.0, count, dtype=np.float32)
  views = np.zeros((count, 6), np.float32)
  views[:, 1] = np.deg2rad(max_yaw_deg) * ramp
  lights = np.stack([np.full(count, 0.4), np.full(count, 0.6), max_light * ramp,
                     np.full(count, 0.3)], 1).astype(np.float32)
  return views, lights


def reconstruction_figure(path, depth, albedo, fov_deg=FOV_DEG, *, count: int = 5,
                          max_yaw_deg: float = 40.0, title: str = "", mask=None):
  """Saves a 3-row figure of one reconstruction to ``path`` (PNG) and returns the path.

  Row 1: depth, normals (as RGB (n + 1) / 2), shading under a head-on light, albedo and the
  shaded image. Row 2: the reconstruction relit by ``count`` lights sweeping left to right.
  Row 3: the shaded image rendered in ``count`` views turning from -max_yaw_deg to
  +max_yaw_deg about the vertical axis through the rotation centre.

  Args:
    path: output .png.
    depth: (H, W) depth map.
    albedo: (H, W, C) in [0, 1], C = 1 or 3.
    fov_deg: camera field of view in degrees.
    mask: optional (H, W) foreground mask; outside it (and outside its turned copies) the
      images are shown black.
  Reads its inputs to the host (NumPy), so their values are always checked.
  """
  import matplotlib.pyplot as plt

  depth, albedo = np.asarray(depth), np.asarray(albedo)
  bind = check_depth_map(depth, batched=False)
  check_shape("albedo", albedo, (bind["H"], bind["W"], None))
  check_dtype("albedo", albedo, "biuf")
  check_finite("albedo", albedo)
  check_range("albedo", albedo, 0.0, 1.0)
  if mask is not None:
    check_shape("mask", mask, (bind["H"], bind["W"]))
  depth = np.asarray(depth, np.float32)[None]
  albedo = np.asarray(albedo, np.float32)[None]
  keep = (np.ones(depth.shape[1:], np.float32) if mask is None
          else np.asarray(mask, np.float32))[None, ..., None]
  views, lights = sweep_inputs(count, max_yaw_deg)
  normals = depth_to_normals(depth, fov_deg)
  light = np.asarray([HEAD_ON], np.float32)
  shading = shade(normals, np.ones_like(albedo[..., :1]), light)
  image = np.asarray(shade(normals, albedo, light)) * keep
  relit = np.asarray(shade(np.repeat(normals, count, 0), np.repeat(albedo, count, 0), lights))
  # The mask travels with the image, so the turned views show the foreground only.
  carried = np.concatenate([image, keep], -1)
  rotated, _, seen = render_view(np.repeat(depth, count, 0), np.repeat(carried, count, 0), views,
                                 fov_deg)
  rotated = np.asarray(rotated)
  rotated = rotated[..., :-1] * (rotated[..., -1:] > 0.5) * np.asarray(seen)[..., None]

  def show(axis, picture, label, **kwargs):
    picture = np.asarray(picture)
    if picture.ndim == 3 and picture.shape[-1] == 1:
      picture, kwargs = picture[..., 0], {"cmap": "gray", **kwargs}
    axis.imshow(np.clip(picture, 0, 1) if picture.ndim == 3 else picture, **kwargs)
    axis.set_title(label, fontsize=8)
    axis.axis("off")

  columns = max(5, count)
  fig, axes = plt.subplots(3, columns, figsize=(1.8 * columns, 5.8))
  for axis in axes.ravel():
    axis.axis("off")
  shown = np.where(keep[0, ..., 0] > 0, np.clip(depth[0], *DEPTH_RANGE), np.nan)
  low, high = np.nanmin(shown), np.nanmax(shown)
  show(axes[0, 0], shown, f"depth {low:.3f}-{high:.3f}", cmap="viridis_r", vmin=low,
       vmax=max(high, low + 1e-6))
  show(axes[0, 1], (np.asarray(normals[0]) + 1) / 2 * keep[0], "normals")
  show(axes[0, 2], np.asarray(shading[0]) * keep[0], "shading", vmin=0, vmax=1)
  show(axes[0, 3], albedo[0], "albedo", vmin=0, vmax=1)
  show(axes[0, 4], image[0], "shaded", vmin=0, vmax=1)
  for i in range(count):
    show(axes[1, i], relit[i] * keep[0], f"light dx={lights[i, 2]:+.2f}", vmin=0, vmax=1)
    show(axes[2, i], rotated[i], f"yaw {np.rad2deg(views[i, 1]):+.0f} deg", vmin=0, vmax=1)
  if title:
    fig.suptitle(title)
  return save_figure(fig, path)
