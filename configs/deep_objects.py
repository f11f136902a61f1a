"""Fig. 5: linear image encoder and voxel decoder joined by a feed-forward mapping, on objects.

    python -m launch.main --config configs/deep_objects.py --workdir workdirs/deep_objects
    python -m launch.main --config configs/deep_objects.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/deep_objects.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=procedural_objects|modelnet10`` and ``runlocal``. The linear
components start from PCA (``pca_init``); each shape is paired with 2 of its 8 views.
"""
from inverse3d.checks import check_choice
from inverse3d.jobs.deep_configs import base_config, parse_arg


def get_config(arg=None):
  options = parse_arg(arg, (), "procedural_objects")
  check_choice("config arg dataset", options["dataset"], ("procedural_objects", "modelnet10"))
  return base_config(options["dataset"], options["runlocal"], image_encoder="linear",
                     mapping="ff", shape_decoder="linear")
