"""Training: stages, the data-parallel step, optimisers, checkpoints and the loop.

``loop.train(config, workdir, data)`` runs the stages a config names; ``parallel`` holds the
per-device step and its shard_map/pmap runners; ``defaults.default_config`` the paper's settings.
"""
from inverse3d.train.checkpoint import Checkpoints, config_fingerprint
from inverse3d.train.defaults import default_config
from inverse3d.train.loop import evaluate, stage_plan, train
from inverse3d.train.optim import build_optimizer, build_schedule
from inverse3d.train.parallel import AXIS, DataParallel, make_train_step
from inverse3d.train.stages import STAGES, TRAINABLE, BatchOrder, labeled_rows, stage_error_fn
from inverse3d.train.state import TrainState, create_state, split_params
