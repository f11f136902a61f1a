"""Benchmark: fine-tuning steps per second of two framework models, JAX versus PyTorch CPU.

    python benchmarks/train_step.py [--steps 10] [--rounds 7] [--batch 40] [--threads 1,0]
                                    [--malloc default,keep]

Models (Table 1 sizes, the fine-tuning stage: image encoder, mapping and shape decoder train
with Adam on the RMSE of eq. 12):
  faces_ff     linear encoder 1024-60, FF mapping 60-100-98, linear decoder 98-3V (V = 4017)
  objects_conv conv encoder 3x3x32-3x3x16 (stride 2) -60, FF mapping 60-100-400, conv decoder
               400 -> 8^3x32 -> 3x3x3x16 -> 3x3x3x1 (stride 2 transposed) -> crop 30^3, sigmoid
The JAX side is the project's own step (registry model, mapping.stage_step("finetune"),
DataParallel, optim.build_optimizer) in the variant the
training loop runs on the steps it does not log (no gradient norm, which torch's step does not
compute either); the PyTorch side is the same architecture and batch written with torch.nn
and torch.optim.Adam. Each framework
runs in its own child process, so the peak resident memory (ru_maxrss) of each is its own;
XLA's memory analysis of the compiled step is printed too. torch runs once per --threads entry
(0: its default, one thread per core), and the ratio is taken against its fastest: on a busy
machine torch's spinning OpenMP threads can make its multi-threaded run far slower than one
thread. The children of one row are alive together and take turns: each times one round of
``--steps`` steps (more, if they take under 0.3 s) while the others wait, for ``--rounds``
rounds, and reports its median round. A change in the machine's load during the row so hits every side alike, and a burst
from another tenant moves no side's median much. The machine may be shared: read the ratio,
not the absolute rates.

Both sides run under each ``--malloc`` setting in turn, the same one on both: "default" leaves
glibc's malloc as it is, "keep" applies inverse3d.host_memory.keep_freed_memory (what the
training jobs run with), which spares both frameworks the page faults of re-allocating their step's
buffers. The ratio of a row compares the two frameworks under the same allocator.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import statistics
import time
import traceback
from typing import Callable

import numpy as np

MODELS = ("faces_ff", "objects_conv")
SETTLE_S = 0.3  # pause before each round: the last side's spinning worker threads go idle
MIN_ROUND_S = 0.3
FACE_VERTICES = 4017


def batch_arrays(model: str, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Random images (batch, 32, 32, 1) in [0, 1] and shapes: points (batch, V, 3) or binary
  voxels (batch, 30, 30, 30)."""
  rng = np.random.default_rng(seed)
  images = rng.random((batch, 32, 32, 1), dtype=np.float32)
  shapes = (rng.random((batch, FACE_VERTICES, 3), dtype=np.float32) if model == "faces_ff"
            else (rng.random((batch, 30, 30, 30)) > 0.8).astype(np.float32))
  return images, shapes


def jax_step(model: str, batch: int, impl: str = "auto") -> tuple[Callable[[], object],
                                                                  Callable, dict]:
  """The project's fine-tuning step as ``(step, finish, info)``: ``step()`` runs one step,
  ``finish(out)`` waits for its result and returns the loss, ``info`` holds XLA's memory
  analysis of the compiled step. ``impl``: the conv components' (models.conv.Conv)."""
  import jax

  from inverse3d.mapping import TRAINABLE, build_model, default_config, init_params, stage_step
  from inverse3d.train import DataParallel, build_optimizer, create_state

  if model == "faces_ff":
    config = default_config("points", shape_shape=(FACE_VERTICES, 3), mapping="ff")
  else:
    config = default_config("voxels", shape_shape=(30, 30, 30), image_encoder="conv",
                            mapping="ff", shape_decoder="conv")
  # Every impl takes the same params: one init (of the "auto" model, compiled once) for all.
  params = init_params(build_model(config.model), jax.random.key(0))
  for slot in ("image_encoder", "image_decoder", "shape_encoder", "shape_decoder"):
    if "impl" in config.model[slot]:
      config.model[slot].impl = impl
  framework = build_model(config.model)
  optimizer = build_optimizer(config.train.optimizer, 10 ** 6)
  state = create_state(params, optimizer, TRAINABLE["finetune"])
  dp = DataParallel(jax.devices()[:1])
  run = dp.compile(stage_step(framework, "finetune", optimizer, grad_norm=False))
  images, shapes = batch_arrays(model, batch)
  data = dp.shard({"images": images, "shapes": shapes})
  state = dp.replicate(state)
  memory = run.lower(state, data).compile().memory_analysis()
  holder = [state]

  def step():
    holder[0], metrics = run(holder[0], data)
    return metrics

  xla = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
         + memory.output_size_in_bytes) if memory is not None else float("nan")
  return step, lambda metrics: float(jax.block_until_ready(metrics)["loss"]), {"xla_bytes": xla}


def torch_model(model: str):
  """The same architecture in torch.nn: a module mapping images (N, 1, 32, 32) to shapes."""
  import torch
  from torch import nn

  class Reshape(nn.Module):
    def __init__(self, *shape):
      super().__init__()
      self.shape = shape

    def forward(self, x):
      return x.reshape(x.shape[0], *self.shape)

  mapping = [nn.Linear(60, 100), nn.ReLU(), nn.Linear(100, 98 if model == "faces_ff" else 400)]
  if model == "faces_ff":
    return nn.Sequential(nn.Flatten(), nn.Linear(1024, 60), *mapping,
                         nn.Linear(98, FACE_VERTICES * 3), Reshape(FACE_VERTICES, 3))

  class Crop(nn.Module):
    def forward(self, x):
      return torch.sigmoid(x[:, 0, 1:31, 1:31, 1:31])

  return nn.Sequential(
      nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
      nn.Conv2d(32, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
      nn.Linear(16 * 8 * 8, 60), *mapping, nn.Linear(400, 32 * 8 ** 3), Reshape(32, 8, 8, 8),
      nn.ReLU(), nn.ConvTranspose3d(32, 16, 3, stride=2, padding=1, output_padding=1),
      nn.ReLU(), nn.ConvTranspose3d(16, 1, 3, stride=2, padding=1, output_padding=1), Crop())


def torch_step(model: str, batch: int, threads: int) -> tuple[Callable[[], object], Callable,
                                                               dict]:
  """The torch fine-tuning step (Adam 1e-3, RMSE loss) on the same batch, as jax_step."""
  import torch

  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(0)
  net = torch_model(model)
  opt = torch.optim.Adam(net.parameters(), lr=1e-3)
  images, shapes = batch_arrays(model, batch)
  x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
  z = torch.from_numpy(shapes)

  def step():
    opt.zero_grad(set_to_none=True)
    loss = torch.sqrt(torch.mean(torch.square(net(x) - z)))
    loss.backward()
    opt.step()
    return loss

  return step, lambda loss: float(loss.detach()), {}


def _child(conn, name, model, batch, steps, threads, malloc):
  """Builds one framework's step and warms it up, then times one round of ``steps`` steps (more
  if they take under MIN_ROUND_S) per "round" message, replying with its steps/s, until "done"
  (replying with its info)."""
  try:
    if malloc == "keep":
      from inverse3d.host_memory import keep_freed_memory
      if not keep_freed_memory():
        raise RuntimeError("--malloc keep: this C library is not glibc")
    step, finish, info = (jax_step(model, batch) if name == "jax"
                          else torch_step(model, batch, threads))
    for _ in range(3):
      out = step()
    finish(out)
    start = time.perf_counter()
    for _ in range(3):
      out = step()
    finish(out)
    # Rounds of at least MIN_ROUND_S: a fast step's round of --steps steps would be too short.
    steps = max(steps, math.ceil(MIN_ROUND_S * 3 / (time.perf_counter() - start)))
    conn.send("ready")
    while conn.recv() == "round":
      start = time.perf_counter()
      for _ in range(steps):
        out = step()
      info["loss"] = finish(out)
      conn.send(steps / (time.perf_counter() - start))
    info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(info)
  except Exception:  # reported by the parent, which would otherwise wait forever
    conn.send({"error": traceback.format_exc()})


def measure(sides: dict, model: str, batch: int, steps: int, rounds: int,
            malloc: str) -> dict:
  """Steps/s of every side, ``{label: (framework, threads)}``, each in its own child process.
  The children take turns, one round each (the order rotating), so that every side is timed
  over the same stretch of the machine's load. Returns ``{label: info with "rate"}``."""
  ctx = multiprocessing.get_context("spawn")
  children = {}
  for label, (name, threads) in sides.items():
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_child,
                          args=(child, name, model, batch, steps, threads, malloc))
    process.start()
    children[label] = (parent, process)
  try:
    for label, (conn, _) in children.items():
      reply = conn.recv()
      if reply != "ready":
        raise RuntimeError(f"{label} {model}: its child process failed:\n{reply['error']}")
    rates = {label: [] for label in children}
    labels = list(children)
    for r in range(rounds):
      for label in labels[r % len(labels):] + labels[:r % len(labels)]:
        conn = children[label][0]
        time.sleep(SETTLE_S)
        conn.send("round")
        reply = conn.recv()
        if isinstance(reply, dict):
          raise RuntimeError(f"{label} {model}: its child process failed:\n{reply['error']}")
        rates[label].append(reply)
    results = {}
    for label, (conn, _) in children.items():
      conn.send("done")
      results[label] = {**conn.recv(), "rate": statistics.median(rates[label])}
    return results
  finally:  # a child still waiting for a message sees the pipe close and ends
    for conn, process in children.values():
      conn.close()
      process.join(timeout=60)
      if process.is_alive():
        process.kill()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=10,
                      help="timed steps per round (at least; rounds last 0.3 s or more)")
  parser.add_argument("--rounds", type=int, default=7,
                      help="timed rounds per side, taken in turns; the median counts")
  parser.add_argument("--batch", type=int, default=40, help="batch size (the paper's 40)")
  parser.add_argument("--threads", default="1,0",
                      help="comma-separated torch thread counts (0: its default)")
  parser.add_argument("--malloc", default="default,keep",
                      help="comma-separated allocator settings, each run on both sides: "
                           "default (glibc as it is), keep (host_memory.keep_freed_memory)")
  args = parser.parse_args()
  threads = [int(t) for t in args.threads.split(",")]
  mallocs = args.malloc.split(",")
  for malloc in mallocs:
    if malloc not in ("default", "keep"):
      raise SystemExit(f"--malloc: expected 'default' or 'keep', got {malloc!r}")
  print(f"{'model':<14}{'malloc':>8}{'JAX steps/s':>12}{'torch steps/s (threads)':>30}"
        f"{'JAX/torch':>10}{'JAX peak RSS MB':>16}{'torch peak RSS MB':>18}{'XLA step MB':>12}")
  for model in MODELS:
    for malloc in mallocs:
      sides = {"jax": ("jax", 0), **{t: ("torch", t) for t in threads}}
      results = measure(sides, model, args.batch, args.steps, args.rounds, malloc)
      jx = results.pop("jax")
      runs = results
      best = max(runs.values(), key=lambda r: r["rate"])
      rates = ", ".join(f"{r['rate']:.1f} ({t or 'default'})" for t, r in runs.items())
      print(f"{model:<14}{malloc:>8}{jx['rate']:>12.1f}{rates:>30}"
            f"{jx['rate'] / best['rate']:>9.2f}x{jx['peak_rss_mb']:>16.0f}"
            f"{best['peak_rss_mb']:>18.0f}{jx['xla_bytes'] / 2**20:>12.1f}", flush=True)


if __name__ == "__main__":
  main()
