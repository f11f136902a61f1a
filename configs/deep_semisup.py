"""Semi-supervised vs supervised-only as the labeled fraction shrinks (section 3).

    python -m launch.main --config configs/deep_semisup.py --workdir workdirs/deep_semisup
    python -m launch.main --config configs/deep_semisup.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/deep_semisup.py:runlocal --workdir /tmp/w

arg: comma-separated; ``dataset=NAME`` (default procedural_faces), ``fractions=a+b`` (labeled
fractions, '+'-separated), ``steps=N`` (steps per stage, default 1000; set it here rather than
with --config.train.steps, so that the supervised runs get the same total) and ``runlocal``. For
each fraction two runs of the linear / FF / linear model: ``pre_<f>`` takes its linear
autoencoders from PCA of every training image and shape (unlabeled use; the closed-form optimum
of the autoencoder stages), then trains the mapping and fine-tunes on the labeled pairs;
``sup_<f>`` trains the same model end to end from random init on the labeled pairs only, for as
many steps as the two stages of ``pre_<f>``. The job adds the closed form (low-dim LS with PCA
on all data, direct LS) at each fraction.
"""
import ml_collections

from configs import common
from configs.mapping_configs import DATASET_KIND, base_config

FRACTIONS = (0.01, 0.03, 0.1, 0.3, 1.0)


def _name(prefix, fraction):
  return f"{prefix}_{fraction:g}".replace(".", "p")


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", fractions=tuple[float], steps=1000,
                         runlocal=False, choices={"dataset": tuple(DATASET_KIND)})
  fractions = arg.fractions or FRACTIONS
  config = base_config(arg.dataset, arg.runlocal)
  config.data.n_train = 2000
  config.train.steps = {"mapping": arg.steps, "finetune": arg.steps}
  config.train.eval_every = 0
  if arg.runlocal:
    config.data.n_train = 24
    config.train.steps = {"mapping": 1, "finetune": 1}
    fractions = tuple(fractions[-2:]) if arg.fractions is None else fractions
  supervised = {"finetune": sum(config.train.steps.values())}
  runs = {}
  for fraction in fractions:
    runs[_name("pre", fraction)] = {"train": {"labeled_fraction": fraction}}
    runs[_name("sup", fraction)] = {"train": {"labeled_fraction": fraction,
                                              "stages": ("finetune",), "steps": supervised},
                                    "pca_init": False}
  config.runs = ml_collections.ConfigDict(runs)
  return config
