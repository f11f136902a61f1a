"""The training core every system uses: data-parallel steps, checkpoints, optimisers, loop.

``parallel.make_train_step(loss_fn, optimizer)`` builds the per-device step around any loss and
``parallel.DataParallel`` runs it over every device of every process; ``loop.TrainLoop`` holds the
services of a training loop (resume, checkpoints with a caller-supplied fingerprint, metrics,
progress, divergence); ``optim`` builds optax optimisers and schedules; ``state.TrainState`` is
the step count, params and optimiser state of the components being trained.
"""
from inverse3d.train.checkpoint import Checkpoints, config_fingerprint
from inverse3d.train.fit import fit_net
from inverse3d.train.loop import TrainLoop
from inverse3d.train.optim import build_optimizer, build_schedule
from inverse3d.train.parallel import AXIS, DataParallel, make_train_step
from inverse3d.train.state import TrainState, create_state, split_params
