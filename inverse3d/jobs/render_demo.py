"""The render_demo job: a procedural face rasterised to depth + albedo, then re-rendered."""
from __future__ import annotations

import os

import jax
from absl import logging

from inverse3d import data
from inverse3d.checks import check_open_range, check_positive_int
from inverse3d.data.face_images import face_maps
from inverse3d.files import dumps_json, write_json
from inverse3d.render import reconstruction_figure, save_obj


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
