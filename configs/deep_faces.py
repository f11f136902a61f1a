"""Fig. 4: linear image encoder and shape decoder joined by a feed-forward mapping, on faces.

    python -m launch.main --config configs/deep_faces.py --workdir workdirs/deep_faces
    python -m launch.main --config configs/deep_faces.py:dataset=ict_faces --workdir W
    python -m launch.main --config configs/deep_faces.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=procedural_faces|ict_faces`` and ``runlocal``. The linear
components start from PCA of the training images and shapes (``pca_init``, the linear
autoencoders' optimum, section 4.1), so training is the mapping stage then fine-tuning.
"""
from configs import common
from configs.mapping_configs import base_config


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", runlocal=False,
                         choices={"dataset": ("procedural_faces", "ict_faces")})
  return base_config(arg.dataset, arg.runlocal, image_encoder="linear", mapping="ff",
                     shape_decoder="linear")
