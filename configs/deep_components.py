"""Fig. 9: every image encoder x shape decoder choice (linear, ff, conv) with an FF mapping.

    python -m launch.main --config configs/deep_components.py --workdir workdirs/deep_comp
    python -m launch.main --config configs/deep_components.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/deep_components.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=NAME`` (default procedural_faces), ``encoders=a+b``,
``decoders=a+b`` (subsets, '+'-separated) and ``runlocal``. Point clouds take linear and ff
decoders; voxels also conv. Runs are named ``<encoder>_<decoder>``; every component starts from
random init and trains through all four stages (``pca_init`` off), so the curves compare the
components and not their initialisation.
"""
import ml_collections

from configs import common
from configs.mapping_configs import DATASET_KIND, base_config, choice
from inverse3d.checks import check_choice

ENCODERS = ("linear", "ff", "conv")
DECODERS = {"points": ("linear", "ff"), "voxels": ("linear", "ff", "conv")}


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", encoders=tuple[str],
                         decoders=tuple[str], runlocal=False,
                         choices={"dataset": tuple(DATASET_KIND), "encoders": ENCODERS,
                                  "decoders": DECODERS["voxels"]})
  dataset, kind = arg.dataset, DATASET_KIND[arg.dataset]
  # runlocal keeps one run (conv encoder, ff decoder) unless encoders/decoders are given.
  default_encoders, default_decoders = (("conv",), ("ff",)) if arg.runlocal else (
      ENCODERS, DECODERS[kind])
  encoders = arg.encoders or default_encoders
  decoders = arg.decoders or default_decoders
  for name in decoders:
    check_choice(f"{common.config_name(__file__)}: argument 'decoders' on {kind}", name,
                 DECODERS[kind])
  config = base_config(dataset, arg.runlocal, pca_init=False)
  config.pca_init = False
  config.train.stages = ("image_ae", "shape_ae", "mapping", "finetune")
  config.data.n_train = 2000
  config.train.steps = {"image_ae": 600, "shape_ae": 600, "mapping": 600, "finetune": 600}
  config.train.eval_every = 100
  config.runs = ml_collections.ConfigDict({
      f"{e}_{d}": choice(dataset, image_encoder=e, mapping="ff", shape_decoder=d,
                         pca_init=False) for e in encoders for d in decoders})
  if arg.runlocal:
    config.data.n_train = 24
    config.train.steps = {"image_ae": 1, "shape_ae": 1, "mapping": 1, "finetune": 1}
    config.train.eval_every = 0
  return config
