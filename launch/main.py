"""Thin launcher: parses flags, then runs the job the config names.

    python -m launch.main --config configs/datasets.py --workdir /tmp/w
    python -m launch.main --config configs/datasets.py:runlocal --workdir /tmp/w \
        --config.seed=3

Every config has a ``job`` field naming a module of ``inverse3d.jobs`` whose
``run(config, workdir)`` does the work.

Several processes (hosts) run one config together on JAX's multi-controller runtime when each
is started with the cluster flags (or ``--distributed_auto`` where JAX detects the cluster)::

    python -m launch.main --config C --workdir W --coordinator_address=HOST0:1234 \
        --num_processes=2 --process_id=0      # on host 0; --process_id=1 on host 1
"""
import importlib

from absl import app, flags, logging
from ml_collections import config_flags

from inverse3d.host_memory import keep_freed_memory
from inverse3d.train.distributed import join_cluster

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where metrics, figures and checkpoints are written.")
flags.DEFINE_string("coordinator_address", "", "host:port of process 0, to join a cluster.")
flags.DEFINE_integer("num_processes", None, "Processes in the cluster.")
flags.DEFINE_integer("process_id", None, "This process's index in the cluster.")
flags.DEFINE_bool("distributed_auto", False,
                  "Join a cluster that JAX detects itself (Slurm, Open MPI, Cloud TPU).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  join_cluster(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
               FLAGS.distributed_auto)
  config = FLAGS.config
  if "job" not in config:
    raise ValueError(f"config: expected a 'job' field naming a module of inverse3d.jobs, "
                     f"got fields {sorted(config.keys())}")
  # Training configs set it: their steps stop page-faulting (inverse3d.host_memory).
  if config.get("keep_freed_memory", False) and not keep_freed_memory():
    logging.info("keep_freed_memory: not glibc, malloc left as it is")
  job = importlib.import_module(f"inverse3d.jobs.{config.job}")
  logging.info("job %s, workdir %s\n%s", config.job, FLAGS.workdir, config)
  job.run(config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
