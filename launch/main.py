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
import difflib
import importlib
import re
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from configs.common import ArgError
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


def _unknown_override(argv) -> str | None:
  """Names the first ``--config.X`` override of argv that the config lacks, with close matches
  among its fields; None if every override names a field."""
  config_arg = None
  for i, arg in enumerate(argv):
    match = re.match(r"-{1,2}config(=.*)?$", arg)
    if match:
      config_arg = match.group(1)[1:] if match.group(1) else "".join(argv[i + 1:i + 2])
  if not config_arg:
    return None
  config = FLAGS["config"].parser.parse(config_arg)

  def fields(node, prefix=""):
    for key, value in node.items():
      yield prefix + key
      if hasattr(value, "items"):
        yield from fields(value, f"{prefix}{key}.")
  known = set(fields(config))
  for arg in argv:
    match = re.match(r"-{1,2}(?:no)?config\.([\w.]+)(=|$)", arg)
    if match and match.group(1) not in known:
      path = match.group(1)
      close = difflib.get_close_matches(path, sorted(known), n=3)
      hint = (f"close matches: {', '.join(close)}" if close
              else f"fields: {', '.join(sorted(config.keys()))}")
      return f"flag --config.{path}: expected one of the config's fields, got {path!r}; {hint}"
  return None


def parse_flags(argv):
  """absl's flag parsing, with one-line errors: a bad config arg (configs.common) or override
  type keeps only its message, an unknown override (a long ml_collections traceback otherwise)
  names the field and its close matches."""
  try:
    return FLAGS(argv)
  except flags.Error as error:
    cause = error.__context__
    while cause is not None and not isinstance(cause, ArgError):
      cause = cause.__context__
    message = str(cause or error)
  except (AttributeError, KeyError):
    message = _unknown_override(argv)
    if message is None:
      raise
  sys.exit(f"FATAL Flags parsing error: {message}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  join_cluster(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
               FLAGS.distributed_auto)
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
  app.run(main, flags_parser=parse_flags)
