"""Two processes on JAX's multi-controller runtime (CPU, gloo collectives, coordinator on
127.0.0.1) train a deep config's runlocal variant through ``launch.main``, are both killed
mid-run, resume, and end with the parameters and results.json of one process."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import SingleDeviceSharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10  # per stage, two stages, a checkpoint every 2 steps
ARGS = ["--config", "configs/deep_faces.py:runlocal", f"--config.train.steps.mapping={STEPS}",
        f"--config.train.steps.finetune={STEPS}", "--config.train.checkpoint_every=2"]
TIMING = {"train_seconds"}


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(workdir, cache, cluster=None):
  """launch.main on ``workdir``; ``cluster`` = (port, process_id) joins a 2-process cluster.
  Output goes to a log file (a pipe nobody reads would fill and stall the process)."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  extra = [] if cluster is None else [f"--coordinator_address=127.0.0.1:{cluster[0]}",
                                      "--num_processes=2", f"--process_id={cluster[1]}"]
  log = open(f"{workdir}.{time.time_ns()}.log", "w")
  proc = subprocess.Popen([sys.executable, "-m", "launch.main", *ARGS, "--workdir",
                           str(workdir), *extra], cwd=REPO, env=env, stdout=log,
                          stderr=subprocess.STDOUT)
  proc.log = log.name
  log.close()
  return proc


def tail(proc) -> str:
  with open(proc.log) as f:
    return f.read()[-4000:]


def launch_pair(workdir, cache):
  port = free_port()
  return [launch(workdir, cache, (port, i)) for i in (0, 1)]


def wait(procs, timeout=400):
  for p in procs:
    p.wait(timeout=timeout)
    assert p.returncode == 0, tail(p)


def steps_saved(workdir):
  folder = os.path.join(workdir, "runs", "main", "checkpoints")
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if os.path.isdir(folder) else []


def final_params(workdir):
  """The params of the last checkpoint, restored onto this process's first device."""
  path = os.path.join(workdir, "runs", "main", "checkpoints", str(2 * STEPS), "state")
  with ocp.StandardCheckpointer() as checkpointer:
    tree = checkpointer.metadata(path)
    tree = getattr(tree, "item_metadata", tree)
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(
        m.shape, m.dtype, sharding=SingleDeviceSharding(jax.devices()[0])), tree)
    return jax.device_get(checkpointer.restore(path, target)["params"])


def close(a, b, path=""):
  """Differences between two results.json trees beyond 1e-5 (timings aside)."""
  if isinstance(a, dict):
    assert set(a) == set(b), path
    return [d for k in a if k not in TIMING for d in close(a[k], b[k], f"{path}.{k}")]
  if isinstance(a, list):
    assert len(a) == len(b), path
    return [d for i, (x, y) in enumerate(zip(a, b)) for d in close(x, y, f"{path}[{i}]")]
  if isinstance(a, float):
    return [] if abs(a - b) <= 1e-5 * max(1.0, abs(a)) else [f"{path}: {a} vs {b}"]
  return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def test_two_processes_killed_and_resumed_match_one_process(tmp_path):
  cache = tmp_path / "xla_cache"
  one, two = tmp_path / "one", tmp_path / "two"
  wait([launch(one, cache)])
  pair = launch_pair(two, cache)
  deadline = time.time() + 400
  while not any(s >= 6 for s in steps_saved(two)):
    for p in pair:
      assert p.poll() is None, tail(p)
    assert time.time() < deadline, "no checkpoint appeared"
    time.sleep(0.02)
  for p in pair:
    p.send_signal(signal.SIGKILL)
  for p in pair:
    p.wait()
  assert max(steps_saved(two)) < 2 * STEPS and not (two / "results.json").exists()
  wait(launch_pair(two, cache))

  a, b = final_params(one), final_params(two)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, atol=1e-5)
  with open(one / "results.json") as f, open(two / "results.json") as g:
    assert close(json.load(f), json.load(g)) == []
  # Only the lead process wrote the run's log: every step once, as in one process.
  with open(one / "runs/main/metrics.jsonl") as f, open(two / "runs/main/metrics.jsonl") as g:
    steps = [[json.loads(line)["step"] for line in h] for h in (f, g)]
  assert steps[0] == steps[1] == list(range(1, 2 * STEPS + 1))
