"""The render_demo job: a procedural face rasterised to depth + albedo, then re-rendered."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from scipy import ndimage

from inverse3d import data
from inverse3d.checks import check_open_range, check_positive_int
from inverse3d.files import dumps_json, write_json
from inverse3d.render import (ROTATION_CENTRE_DEPTH, reconstruction_figure, render_mesh,
                              save_obj)


def place_face(points, fov_deg: float, fill: float):
  """Model points (V, 3) (+y up, +z towards the viewer, any unit) -> viewer-frame points.

  The face is scaled so its height is ``fill`` of the image height, centred on the optical
  axis, with the middle of its depth extent at the rotation centre (depth 1).
  """
  low, high = jnp.min(points, 0), jnp.max(points, 0)
  scale = fill * 2 * np.tan(np.deg2rad(fov_deg) / 2) * ROTATION_CENTRE_DEPTH / (high - low)[1]
  centred = (points - (low + high) / 2) * scale
  return centred - jnp.array([0.0, 0.0, ROTATION_CENTRE_DEPTH])


def face_maps(points, albedo, triangles, size: int, fov_deg: float, fill: float):
  """Rasterises one face mesh to (depth (H, W), albedo (H, W, 3), mask (H, W) bool).

  Outside the face each pixel takes the depth of the nearest face pixel (so that turning the
  depth map does not stretch sheets from the face's rim to a background) and the albedo 0.
  """
  vertices = place_face(points, fov_deg, fill)
  image, depth, mask = render_mesh(vertices[None], triangles, albedo[None], size, size, fov_deg)
  mask = np.asarray(mask[0]) > 0
  depth = np.asarray(depth[0])
  nearest = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
  depth = depth[tuple(nearest)]
  return depth, np.clip(np.asarray(image[0]), 0.0, 1.0), mask


def run(config, workdir: str) -> dict:
  """Draws workdir/render_demo.png and exports the face's depth mesh as .obj files."""
  size = check_positive_int("config.size", config.size, minimum=8)
  check_open_range("config.face_fill", config.face_fill, 0.0, 1.0)
  model = data.procedural_face_model(config.face_vertices, config.face_modes)
  if config.seed == 0:
    points, albedo = model.mean, model.albedo_mean
  else:
    face = data.sample_faces(jax.random.key(config.seed), model, 1, normalize=False)
    points, albedo = face["points"][0], face["albedo"][0]
  depth, albedo_map, mask = face_maps(points, albedo, model.triangles, size, config.fov_deg,
                                      config.face_fill)
  os.makedirs(workdir, exist_ok=True)
  figure = reconstruction_figure(
      os.path.join(workdir, "render_demo.png"), depth, albedo_map, config.fov_deg,
      count=config.views, max_yaw_deg=config.max_yaw_deg, mask=mask,
      title=f"procedural face (seed {config.seed}), {size}x{size}, fov {config.fov_deg:g} deg")
  meshes = save_obj(os.path.join(workdir, "face.obj"), depth, albedo_map, config.fov_deg,
                    mask=mask)
  meshes += save_obj(os.path.join(workdir, "face_textured.obj"), depth, albedo_map,
                     config.fov_deg, texture=True, mask=mask)
  summary = dict(figure=figure, meshes=meshes, coverage=float(mask.mean()),
                 depth_min=float(depth[mask].min()), depth_max=float(depth[mask].max()))
  write_json(os.path.join(workdir, "render_demo.json"), summary)
  logging.info("render_demo: %s", dumps_json(summary))
  return summary
