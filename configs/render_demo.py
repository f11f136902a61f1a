"""The renderer on one procedural face: depth, normals, shading, albedo, relit and turned views.

    python -m launch.main --config configs/render_demo.py --workdir workdirs/render_demo
    python -m launch.main --config configs/render_demo.py:runlocal --workdir /tmp/r

Writes workdir/render_demo.png (the figure), face.obj (vertex colours), face_textured.obj
(+ .mtl, .png) and render_demo.json.
"""
import ml_collections

from configs import common


def get_config(arg=None):
  """arg: 'runlocal' makes a seconds-long smoke run."""
  arg = common.parse_arg(arg, runlocal=False)
  config = ml_collections.ConfigDict()
  config.job = "render_demo"
  config.seed = 0           # which face is drawn from the model (0: its mean face)
  config.face_vertices = 4000
  config.face_modes = 40
  config.size = 128         # image height and width in pixels
  config.fov_deg = 10.0
  config.face_fill = 0.85   # face height as a fraction of the image height
  config.views = 5          # relit and turned views in the sweep
  config.max_yaw_deg = 40.0
  if arg.runlocal:
    config.face_vertices = 600
    config.size = 48
    config.views = 3
  return config
