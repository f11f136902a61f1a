"""Build every dataset and draw it: procedural faces and objects, real ModelNet10 and ICT faces.

    python -m launch.main --config configs/datasets.py --workdir workdirs/datasets
    python -m launch.main --config configs/datasets.py:runlocal --workdir /tmp/d
"""
import ml_collections

from configs import common


def get_config(arg=None):
  """arg: 'runlocal' makes a seconds-long smoke run."""
  arg = common.parse_arg(arg, runlocal=False)
  config = ml_collections.ConfigDict()
  config.job = "datasets"
  config.seed = 0
  config.data_dir = ""  # real data folder; empty means ../shared/data beside the checkout
  config.include_real = True  # draw real ModelNet10 and ICT faces when the files exist
  config.image_folder = ""  # optional folder of PNG/JPEG images (e.g. LFW) to draw too
  config.face_vertices = 4000
  config.face_modes = 40
  config.rows = 6  # samples drawn per dataset
  config.image_size = 32
  # Procedural datasets written as TFDS array_record under workdir/tfds (the paper's sizes).
  config.tfds_datasets = ("procedural_faces", "procedural_objects")
  config.tfds_train = 4000
  config.tfds_test = 1000
  if arg.runlocal:
    config.face_vertices = 600
    config.rows = 3
    config.tfds_train, config.tfds_test = 20, 10
  return config
