"""Figs. 7, 8: an AlexNet-style image encoder (227x227x3 input) with a feed-forward mapping and
a linear shape decoder, on faces or objects.

    python -m launch.main --config configs/deep_alexnet.py --workdir workdirs/deep_alexnet
    python -m launch.main --config configs/deep_alexnet.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/deep_alexnet.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=NAME`` (any paired dataset, default procedural_faces) and
``runlocal``. The 32x32 renders are resized to 227x227 and repeated over 3 channels. Widths are
reduced (mapping_configs.SMALL_ALEXNET) so the run fits 2 CPU cores; set
``--config.model.image_encoder.channels`` / ``.fc`` for the paper's. The encoder is trained from
scratch (no ImageNet weights here; inverse3d.models.load_torchvision_alexnet converts them).
"""
from configs import common
from configs.mapping_configs import DATASET_KIND, base_config


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", runlocal=False,
                         choices={"dataset": tuple(DATASET_KIND)})
  config = base_config(arg.dataset, arg.runlocal, image_encoder="alexnet", mapping="ff",
                       shape_decoder="linear")
  # Few shapes (the 227x227 encoder is the cost), but more than the shape code's 400 PCA
  # components need for objects.
  n_train = 400 if DATASET_KIND[arg.dataset] == "points" else 800
  config.data.n_train, config.data.n_test, config.data.n_val = n_train, 200, 100
  config.data.views_per_shape = 1
  config.train.steps = {"image_ae": 300, "mapping": 300, "finetune": 300}
  config.train.eval_every = 100
  config.train.log_every = 50
  if arg.runlocal:
    config.data.update({"n_train": 12, "n_test": 4, "n_val": 4})
    config.train.steps = {"image_ae": 1, "mapping": 1, "finetune": 1}
    config.model.image_encoder.update({"channels": (4, 4, 4, 4, 4), "fc": (16, 16)})
  return config
