"""Fig. 5: linear image encoder and voxel decoder joined by a feed-forward mapping, on objects.

    python -m launch.main --config configs/deep_objects.py --workdir workdirs/deep_objects
    python -m launch.main --config configs/deep_objects.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/deep_objects.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=procedural_objects|modelnet10`` and ``runlocal``. The linear
components start from PCA (``pca_init``); each shape is paired with 2 of its 8 views.
"""
from configs import common
from configs.mapping_configs import base_config


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_objects", runlocal=False,
                         choices={"dataset": ("procedural_objects", "modelnet10")})
  return base_config(arg.dataset, arg.runlocal, image_encoder="linear", mapping="ff",
                     shape_decoder="linear")
