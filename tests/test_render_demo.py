"""The render_demo job: a procedural face rasterised, exported and drawn."""
import json
import os

import numpy as np
from PIL import Image

from configs import render_demo as demo_config
from inverse3d import data
from inverse3d.data.face_images import place_face
from inverse3d.jobs import render_demo
from inverse3d.render import project


def test_place_face_fills_the_requested_height_at_the_rotation_centre():
  model = data.procedural_face_model(600, 5)
  placed = np.asarray(place_face(model.mean, 10.0, 0.5))
  depth = -placed[:, 2]
  assert abs((depth.min() + depth.max()) / 2 - 1.0) < 1e-6
  # At depth 1 the image spans 2 tan(5 deg); half of it is the face's height there.
  assert abs(np.ptp(placed[:, 1]) - 0.5 * 2 * np.tan(np.deg2rad(5))) < 1e-6
  u, v, _ = project(placed, 65, 65, 10.0)
  assert abs(np.mean(u) - 32) < 3 and abs(np.mean(v) - 32) < 3


def test_runlocal_job_writes_figure_meshes_and_summary(tmp_path):
  config = demo_config.get_config("runlocal")
  summary = render_demo.run(config, str(tmp_path))
  names = sorted(os.listdir(tmp_path))
  assert names == sorted(["render_demo.png", "render_demo.json", "face.obj",
                          "face_textured.obj", "face_textured.mtl", "face_textured.png"])
  assert json.loads((tmp_path / "render_demo.json").read_text()) == summary
  assert 0.15 < summary["coverage"] < 0.6
  assert 0.9 < summary["depth_min"] < 1.0 < summary["depth_max"] < 1.1
  figure = Image.open(tmp_path / "render_demo.png")
  assert figure.size[0] > 400 and np.asarray(figure.convert("L")).std() > 10
  faces = sum(line.startswith("f ") for line in open(tmp_path / "face.obj"))
  size = config.size
  assert 0.1 * 2 * size**2 < faces < 2 * (size - 1)**2 * summary["coverage"] + 1
