"""Thin launcher: parses flags, then runs the job the config names.

    python -m launch.main --config configs/datasets.py --workdir /tmp/w
    python -m launch.main --config configs/datasets.py:runlocal --workdir /tmp/w \
        --config.seed=3

Every config has a ``job`` field naming a module of ``inverse3d.jobs`` whose
``run(config, workdir)`` does the work.
"""
import importlib

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from inverse3d.host_memory import keep_freed_memory

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (path[:arg]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Where metrics, figures and checkpoints are written.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = FLAGS.config
  if "job" not in config:
    raise ValueError(f"config: expected a 'job' field naming a module of inverse3d.jobs, "
                     f"got fields {sorted(config.keys())}")
  # Training configs set it: their steps stop page-faulting (inverse3d.host_memory). Only
  # XLA:CPU keeps its step buffers in malloc's heap.
  if config.get("keep_freed_memory", False) and jax.default_backend() != "cpu":
    logging.info("keep_freed_memory: skipped on backend %s", jax.default_backend())
  elif config.get("keep_freed_memory", False) and not keep_freed_memory():
    logging.info("keep_freed_memory: not glibc, malloc left as it is")
  job = importlib.import_module(f"inverse3d.jobs.{config.job}")
  logging.info("job %s, workdir %s\n%s", config.job, FLAGS.workdir, config)
  job.run(config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
