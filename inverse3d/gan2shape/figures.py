"""One figure per reconstructed image: what GAN2Shape recovered and what it can render.

Top row: the input, the predicted depth, the true depth and the step-1 prior (one colour
scale, the true depth's foreground range), the normals, the albedo, the shading and the reconstruction. Bottom row:
relit under two lights, turned by -30 and +30 degrees of yaw, and four projected samples.
"""
from __future__ import annotations

import numpy as np

from inverse3d.gan2shape.reconstruct import relight, rotate

LIGHTS = {"lit from the left": (0.3, 0.8, -0.8, 0.2), "lit from the right": (0.3, 0.8, 0.8, 0.2)}
YAWS_DEG = (-30.0, 30.0)
SAMPLES = 4


def renders(result: dict) -> dict:
  """{title: (B, R, R, 3)} relit and rotated images of :func:`reconstruct`'s result."""
  out = {title: relight(result, light) for title, light in LIGHTS.items()}
  out.update({f"yaw {yaw:+.0f} deg": rotate(result, yaw_deg=yaw) for yaw in YAWS_DEG})
  return out


def image_figure(result: dict, index: int, image, gt_depth, gt_mask, shown: dict, title: str):
  """The matplotlib figure of image ``index`` of ``result``; ``image`` (R, R, 3), ``gt_depth``
  and ``gt_mask`` (R, R) its input and truth; ``shown``: :func:`renders`'s arrays."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fg = np.asarray(gt_depth)[np.asarray(gt_mask) > 0.5]
  low, high = (fg.min(), fg.max()) if fg.size else (0.9, 1.1)
  depth_panel = dict(cmap="viridis_r", vmin=low, vmax=high)
  top = [("input", image, {}),
         ("predicted depth", result["depth"][index], depth_panel),
         ("true depth", gt_depth, depth_panel),
         ("ellipsoid prior", result["prior_depth"][index], depth_panel),
         ("normals", (result["normals"][index] + 1.0) / 2.0, {}),
         ("albedo", result["albedo"][index], {}),
         ("shading", result["shading"][index], dict(cmap="gray", vmin=0.0)),
         ("reconstruction", result["reconstruction"][index], {})]
  bottom = [(name, images[index], {}) for name, images in shown.items()]
  projected = result["projected"][index][:SAMPLES]
  bottom += [(f"projected sample {i}", p, {}) for i, p in enumerate(projected)]
  columns = max(len(top), len(bottom))
  fig, axes = plt.subplots(2, columns, figsize=(1.9 * columns, 4.4), squeeze=False)
  for row, panels in enumerate((top, bottom)):
    for ax in axes[row]:
      ax.axis("off")
    for ax, (name, array, style) in zip(axes[row], panels):
      array = np.asarray(array)
      ax.imshow(np.clip(array, 0.0, 1.0) if array.ndim == 3 else array,
                interpolation="nearest", **style)
      ax.set_title(name, fontsize=8)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  return fig
