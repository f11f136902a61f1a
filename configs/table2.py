"""Table 2 of the paper: closed-form low-dim LS vs direct LS vs the mean shape.

    python -m launch.main --config configs/table2.py --workdir workdirs/table2
    python -m launch.main --config configs/table2.py:dataset=modelnet10 --workdir W
    python -m launch.main --config configs/table2.py:dataset=all --workdir W
    python -m launch.main --config configs/table2.py:dataset=ict_faces,runlocal --workdir W

arg: comma-separated; ``dataset=NAME`` (procedural_faces, procedural_objects, modelnet10,
ict_faces, or ``all``; default both procedural sets) and ``runlocal`` (seconds-long smoke run).
"""
import ml_collections

from configs import common
from inverse3d.mapping.defaults import TABLE1

ALL_DATASETS = ("procedural_faces", "procedural_objects", "modelnet10", "ict_faces")


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset=str, runlocal=False,
                         choices={"dataset": (*ALL_DATASETS, "all")})
  dataset = arg.dataset
  config = ml_collections.ConfigDict()
  config.job = "table2"
  config.seed = 0
  config.data_dir = ""  # real data folder; empty means ../shared/data beside the checkout
  config.datasets = (ALL_DATASETS if dataset == "all" else (dataset,) if dataset
                     else ("procedural_faces", "procedural_objects"))
  # Generated sets: the paper's 4000 train / 1000 test. ModelNet10 keeps its official split.
  config.n_train = 4000
  config.n_test = 1000
  config.image_size = 32
  config.face_vertices = 4000
  config.face_modes = 40
  # Code sizes from the paper's Table 1: image codes 60; shape codes 98 (faces), 400 (objects).
  config.k_image = TABLE1["points"]["image_code"]  # 60 for both kinds
  config.k_shape = ml_collections.ConfigDict({kind: TABLE1[kind]["shape_code"]
                                              for kind in ("points", "voxels")})  # 98, 400
  config.ridge = 0.0
  config.pca_method = "auto"
  # The sweep varies one knob at a time around the setting above.
  config.sweep = ml_collections.ConfigDict()
  config.sweep.k_image = (10, 20, 40, 60, 100, 200, 400)
  config.sweep.k_shape = (10, 20, 50, 98, 200, 400)
  config.sweep.ridge = (0.0, 1.0, 1e2, 1e4)
  # Labeled shapes for the mappings (each with all its views); PCAs still see every shape.
  config.sweep.n_labeled = (25, 50, 100, 200, 400, 1000, 2000, 4000)
  config.figure_samples = 4
  if arg.runlocal:
    config.n_train, config.n_test = 120, 40
    config.face_vertices = 600
    config.k_image = 20
    config.k_shape = ml_collections.ConfigDict({"points": 20, "voxels": 40})
    config.sweep.k_image = (5, 20)
    config.sweep.k_shape = (5, 20)
    config.sweep.ridge = (0.0, 1.0)
    config.sweep.n_labeled = (20, 120)
    config.figure_samples = 2
  return config
