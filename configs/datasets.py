"""Build every dataset and draw it: procedural faces, face images and objects, real ModelNet10 and
ICT faces.

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
  # Colour face images at random poses and lights (inverse3d.data.procedural_face_images).
  config.face_images = 6  # drawn, in 2 rows
  config.face_image_size = 64
  config.face_images_real = True  # also from the ICT model, when include_real finds it
  # Procedural datasets written as TFDS array_record under workdir/tfds (the paper's sizes).
  config.tfds_datasets = ("procedural_faces", "procedural_objects", "procedural_face_images")
  config.tfds_train = 4000
  config.tfds_test = 1000
  if arg.runlocal:
    config.face_vertices = 600
    config.rows = 3
    config.tfds_train, config.tfds_test = 20, 10
    # Each new batch shape of the face images compiles the renderer again (seconds): runlocal
    # draws the 6 procedural ones only.
    config.face_images_real = False
    config.tfds_datasets = ("procedural_faces", "procedural_objects")
  return config
