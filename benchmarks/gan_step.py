"""Benchmark: StyleGAN2 training iterations per second, the project's JAX iteration vs PyTorch.

    PYTHONPATH=. python benchmarks/gan_step.py [--variant cpu|gpu] [--batch N] [--resolution R]
        [--iterations 2] [--rounds 5] [--conv-impl native|matmul|auto] [--quick]
        [--torch-threads N[,N...]] [--torch-modconv scaled|grouped]

Model and batch: configs/stylegan2.py's (``--variant cpu``, the default: 64x64, widths 64, 64,
64, 32, 16 at 4 .. 64, w 256-d, 8 mapping layers, batch 16; ``--variant gpu``: the published
widths, 512 feature maps, w 512-d, batch 32). ``--batch``/``--resolution`` override the
config's (widths follow ``channels_at``).

Sides, each in its own child process (so each one's peak resident memory is its own):
  jax <impl>  the project's iteration, ``inverse3d.gan.training.make_iteration`` run through
              ``DataParallel(one device).compile`` as ``train()`` runs it, traced and compiled
              under ``inverse3d.gan.layers.conv_impl(impl)``, on whatever backend JAX has. On
              CPU both "native" and "matmul" rows run unless ``--conv-impl`` picks one ("auto"
              is matmul on CPU, native elsewhere; the row says which).
  torch       an independent PyTorch implementation of the same networks (benchmarks/torch_stylegan2.py), on CUDA
              when ``torch.cuda.is_available()``, else the CPU: one side per
              ``--torch-threads`` entry (``torch.set_num_threads``), by default
              ``os.cpu_count()`` and 1. On a busy machine torch's OpenMP threads wait for
              one another at every operation, and its multi-threaded run can be many
              times slower than one thread (3-6x at 64x64, up to 50x at 8x8, on 2 cores of
              load 5-6 under nice), so the ratio is given against each.
Iterations, both sides:
  D+G+EMA     discriminator step on the logistic loss (fakes from fresh z with style mixing
              0.9 and random noise, no gradient to G), generator step on the non-saturating
              loss against the updated D (no gradient to D's weights), EMA of G's weights;
              real images: uint8 -> [-1, 1], random mirror, the same batch every iteration
  +R1         the lazy-R1 iteration: the above with a second D step on
              gamma / 2 * r1_every * E|grad_x D(real)|^2 (double backpropagation) after the first
  mix 15:1    derived: the training loop's rate, 15 plain iterations and one R1 per 16
Adam betas (0, 0.99), eps 1e-8, D's lr and betas adjusted for lazy R1 as
``training.optimizers``; float32 throughout.

The PyTorch networks follow the published StyleGAN2 code (rosinality's stylegan2-pytorch,
NCHW): mapping MLP (pixel norm, equalised-lr dense layers, lr_mul 0.01, fused leaky ReLU),
constant input, modulated convolutions with demodulation, per-pixel noise with a learned
strength, stride-2 transposed convolution + [1, 3, 3, 1] blur for upsampling, to-RGB skips
upsampled by zero insertion + blur, residual discriminator (blur + stride-2 convolutions, 1x1
skip, 1/sqrt(2)), minibatch stddev (group 4), final conv and two dense layers; widths from the
same spec, so both sides have the same parameter count (printed). ``--torch-modconv``:
"scaled" (default) computes a modulated convolution as the JAX layers do (input scaled by the
style, shared weight, output scaled by the demodulation), "grouped" as the published code's
fused path (per-sample weights, one convolution with groups = batch). Blur and upsampling
filters are depthwise 4x4 convolutions (upfirdn2d's native path).

Timing: a side is built (JAX: init and compile, timed as "compile s", i.e. trace + XLA compile
of each iteration) and warmed up, then the sides take turns, one round of ``--iterations``
iterations of one kind each while the others wait, for ``--rounds`` rounds, and each reports
its median round; every round ends by waiting for the state (``block_until_ready``, CUDA
synchronise). A change in the machine's load hits every side alike. "JAX/torch" is the JAX
row's it/s over each torch row's, in their order (above 1: JAX faster); images/s counts real images (the batch) per
second, as StyleGAN's kimg. Memory: the process's peak RSS (ru_maxrss, JAX's includes the XLA
compiler's own peak), its RSS after the timing (psutil), XLA's memory analysis of each compiled
iteration (arguments + outputs + temporaries) and, on an accelerator, the device's peak
(``jax.Device.memory_stats``, ``torch.cuda.max_memory_allocated``). GFLOP/it: XLA's cost
analysis of the compiled iteration.

``--quick``: a smoke run of the script at 8x8 (the cpu widths 64, 64), batch 8, one conv
impl ("auto") unless ``--conv-impl`` is given, 3 rounds of 1 iteration. On 2 CPU cores XLA's
compiling dominates: under ``nice -n 10`` beside a training run (load 5-6), ``--quick`` took
3.4 minutes (1.5 of them compiling the two iterations), the default run 16 minutes (9 of them
building the two JAX sides: 1.5-3 minutes per iteration and impl). Run it from the repository root with the
checkout's ``inverse3d`` and ``configs`` importable (``PYTHONPATH=.``) and torch installed;
nothing in tests or CI runs it.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import resource
import statistics
import time
import traceback

import numpy as np

SETTLE_S = 0.3  # pause before each round: the last side's spinning worker threads go idle
KINDS = ("plain", "r1")
KIND_LABELS = {"plain": "D+G+EMA", "r1": "D+R1+G+EMA", "mix": "mix 15:1"}
QUICK = dict(resolution=8, batch=8, iterations=1, rounds=3)
FULL = dict(iterations=2, rounds=5)
# The init is compiled once without LLVM's optimisations (its speed does not matter): on 2 busy
# cores 12 s instead of 31 s at 16x16.
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def gan_config(args):
  """configs/stylegan2.py's config for ``args.variant`` with --batch/--resolution applied."""
  from configs.stylegan2 import get_config

  config = get_config(f"variant={args.variant}")
  if args.batch:
    config.train.batch_size = args.batch
  if args.resolution:
    config.model.resolution = args.resolution
  return config


def real_batch(batch: int, resolution: int) -> np.ndarray:
  """Random uint8 training images (batch, R, R, 3), the same on both sides."""
  return np.random.default_rng(0).integers(0, 256, (batch, resolution, resolution, 3), np.uint8)


def count(tree) -> int:
  import jax
  return int(sum(np.size(x) for x in jax.tree.leaves(tree)))


# ----------------------------------------------------------------------------------------------
# JAX: the project's iteration.

def jax_side(args, impl: str) -> tuple[dict, dict]:
  """``({kind: (run, finish)}, info)``: ``run()`` one iteration of that kind on the held state,
  ``finish(out)`` waits for it; info holds compile times, XLA's analyses and the backend."""
  import jax

  from inverse3d.gan import layers
  from inverse3d.gan.training import init_state, make_iteration, spec_from_config
  from inverse3d.train import DataParallel

  config = gan_config(args)
  tc = config.train
  spec = spec_from_config(config.model)
  dp = DataParallel(jax.devices()[:1])
  start = time.perf_counter()
  # One compiled init, not the hundreds of small eager dispatches of an unjitted one.
  key = jax.random.key(config.seed)
  init = jax.jit(lambda key: init_state(spec, tc, key)).lower(key).compile(
      compiler_options=INIT_COMPILER_OPTIONS)
  state = init(key)
  state = dp.replicate(jax.device_get(state))
  info = {"init_s": time.perf_counter() - start, "backend": jax.default_backend(),
          "device": jax.devices()[0].device_kind, "version": jax.__version__,
          "params": (count(state.g.params), count(state.d.params)),
          "auto": None, "impl": None, "compile_s": {}, "gflop": {}, "xla_mb": {}}
  batch = dp.shard(real_batch(tc.batch_size, spec.resolution))
  compiled = {}
  with layers.conv_impl(impl):  # read at trace time: lower and compile inside the block
    info["impl"] = layers.resolved_conv_impl()
    with layers.conv_impl("auto"):
      info["auto"] = layers.resolved_conv_impl()
    for kind in KINDS:
      start = time.perf_counter()
      step = dp.compile(make_iteration(spec, tc, config.seed, regularize=kind == "r1"))
      compiled[kind] = step.lower(state, batch).compile()
      info["compile_s"][kind] = time.perf_counter() - start
      cost = compiled[kind].cost_analysis()
      cost = cost[0] if isinstance(cost, (list, tuple)) else cost
      info["gflop"][kind] = (cost or {}).get("flops", float("nan")) / 1e9
      memory = compiled[kind].memory_analysis()
      info["xla_mb"][kind] = float("nan") if memory is None else (
          memory.temp_size_in_bytes + memory.argument_size_in_bytes
          + memory.output_size_in_bytes) / 2 ** 20
      print(f"  jax {impl}: {KIND_LABELS[kind]} compiled in {info['compile_s'][kind]:.0f} s",
            flush=True)
  holder = [state]

  def runner(kind):
    def run():
      holder[0], metrics = compiled[kind](holder[0], batch)
      return metrics
    return run

  def finish(metrics):
    jax.block_until_ready((holder[0], metrics))
    return float(metrics["loss"])

  def memory_info():
    stats = jax.devices()[0].memory_stats() if info["backend"] != "cpu" else None
    return {"device_peak_mb": (stats or {}).get("peak_bytes_in_use", float("nan")) / 2 ** 20}

  info["memory"] = memory_info
  return {kind: (runner(kind), finish) for kind in KINDS}, info


# ----------------------------------------------------------------------------------------------
# PyTorch: an independent implementation of the same networks and iteration.

def torch_side(args, threads: int) -> tuple[dict, dict]:
  """``({kind: (run, finish)}, info)`` as jax_side, for the PyTorch implementation;
  ``threads``: torch.set_num_threads on CPU."""
  import torch
  import torch.nn.functional as F

  from inverse3d.gan.training import spec_from_config

  config = gan_config(args)
  tc = config.train
  spec = spec_from_config(config.model)
  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  if device.type == "cpu":
    torch.set_num_threads(threads)
  else:
    torch.backends.cudnn.benchmark = True  # as XLA's autotuning
    torch.set_float32_matmul_precision("high")  # TF32 dense layers too, as XLA's default
  torch.manual_seed(config.seed)
  rng = random.Random(config.seed)
  from torch_stylegan2 import torch_networks  # beside this script

  Generator, Discriminator = torch_networks(spec, args.torch_modconv)
  g, d = Generator().to(device), Discriminator().to(device)
  ema = [p.detach().clone() for p in g.parameters()]
  b1, b2 = (float(b) for b in tc.betas)
  c = tc.r1_every / (tc.r1_every + 1.0)
  g_opt = torch.optim.Adam(g.parameters(), lr=tc.g_lr, betas=(b1, b2), eps=1e-8)
  d_opt = torch.optim.Adam(d.parameters(), lr=tc.d_lr * c, betas=(b1 ** c, b2 ** c), eps=1e-8)
  batch = torch.from_numpy(real_batch(tc.batch_size, spec.resolution)).to(device)
  n, steps = tc.batch_size, [0]

  def reals():
    images = batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if tc.mirror:
      flip = torch.rand(n, 1, 1, 1, device=device) < 0.5
      images = torch.where(flip, images.flip(3), images)
    return images

  def latents():
    return torch.randn(2 * n, spec.style_dim, device=device)

  def set_grad(module, flag):
    for p in module.parameters():
      p.requires_grad_(flag)

  def iteration(regularize):
    real = reals()
    with torch.no_grad():
      fake = g(latents(), rng, tc.style_mixing)
    set_grad(d, True)
    d_loss = F.softplus(d(fake)).mean() + F.softplus(-d(real)).mean()
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    if regularize:
      real = real.detach().requires_grad_(True)
      (grad,) = torch.autograd.grad(d(real).sum(), real, create_graph=True)
      penalty = grad.square().sum((1, 2, 3)).mean()
      d_opt.zero_grad(set_to_none=True)
      (penalty * (tc.r1_gamma / 2 * tc.r1_every)).backward()
      d_opt.step()
    set_grad(d, False)
    g_loss = F.softplus(-d(g(latents(), rng, tc.style_mixing))).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    steps[0] += 1
    half = tc.ema_kimg * 1000.0
    if tc.ema_rampup:
      half = min(half, steps[0] * n * tc.ema_rampup)
    beta = 0.5 ** (n / max(half, 1e-8))
    with torch.no_grad():
      torch._foreach_lerp_(ema, [p.detach() for p in g.parameters()], 1.0 - beta)
    return d_loss.detach() + g_loss.detach()

  def finish(loss):
    if device.type == "cuda":
      torch.cuda.synchronize()
    return float(loss)

  def memory_info():
    return {"device_peak_mb": (torch.cuda.max_memory_allocated() / 2 ** 20
                               if device.type == "cuda" else float("nan"))}

  info = {"backend": device.type, "version": torch.__version__,
          "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
          "threads": torch.get_num_threads(), "modconv": args.torch_modconv,
          "params": (sum(p.numel() for p in g.parameters()),
                     sum(p.numel() for p in d.parameters())),
          "memory": memory_info}
  return {kind: (lambda kind=kind: iteration(kind == "r1"), finish) for kind in KINDS}, info


# ----------------------------------------------------------------------------------------------
# The child processes and the turns they take.

def _child(conn, side: str, impl: str, args):
  """Builds one side and warms it up (one iteration of each kind after compiling: two for
  torch), replies ("ready", info), then times one round of ``args.iterations`` iterations per
  ("round", kind) message, replying with its it/s, until "done" (replying with its memory)."""
  try:
    if side == "torch":  # whatever imports jax here leaves the accelerator to the JAX side
      os.environ["JAX_PLATFORMS"] = "cpu"
    import psutil
    steps, info = jax_side(args, impl) if side == "jax" else torch_side(args, int(impl))
    for kind in KINDS:
      run, finish = steps[kind]
      for _ in range(1 if side == "jax" else 2):
        finish(run())
    memory = info.pop("memory")
    conn.send(("ready", info))
    while True:
      message = conn.recv()
      if message == "done":
        break
      run, finish = steps[message[1]]
      start = time.perf_counter()
      for _ in range(args.iterations):
        out = run()
      loss = finish(out)
      if not math.isfinite(loss):
        raise FloatingPointError(f"{side} {impl}: loss {loss}")
      conn.send(args.iterations / (time.perf_counter() - start))
    conn.send({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "rss_mb": psutil.Process().memory_info().rss / 2 ** 20, **memory()})
  except Exception:  # reported by the parent, which would otherwise wait forever
    conn.send({"error": traceback.format_exc()})


class Side:
  """One side's child process: started and built at construction (waiting until it is ready)."""

  def __init__(self, ctx, label: str, side: str, impl: str, args):
    self.label, self.side, self.impl = label, side, impl
    self.conn, child = ctx.Pipe()
    self.process = ctx.Process(target=_child, args=(child, side, impl, args), daemon=True)
    start = time.perf_counter()
    self.process.start()
    reply = self.conn.recv()
    if not (isinstance(reply, tuple) and reply[0] == "ready"):
      raise RuntimeError(f"{label}: its child process failed:\n{reply['error']}")
    self.info, self.rates = reply[1], {kind: [] for kind in KINDS}
    self.info["ready_s"] = time.perf_counter() - start

  def round(self, kind: str) -> None:
    self.conn.send(("round", kind))
    reply = self.conn.recv()
    if isinstance(reply, dict):
      raise RuntimeError(f"{self.label}: its child process failed:\n{reply['error']}")
    self.rates[kind].append(reply)

  def finish(self) -> None:
    self.conn.send("done")
    reply = self.conn.recv()
    if "error" in reply:
      raise RuntimeError(f"{self.label}: its child process failed:\n{reply['error']}")
    self.info.update(reply)

  def close(self) -> None:
    self.conn.close()
    self.process.join(timeout=60)
    if self.process.is_alive():
      self.process.kill()

  def rate(self, kind: str) -> float:
    if kind == "mix":  # 15 plain iterations and one R1 per 16, as train() runs them
      return 16.0 / (15.0 / self.rate("plain") + 1.0 / self.rate("r1"))
    return statistics.median(self.rates[kind])


def tables(sides: list[Side], batch: int, rounds: int) -> str:
  baselines = [s for s in sides if s.side == "torch"]
  lines = ["| iteration | side | conv impl | it/s (rounds) | images/s | JAX/torch | compile s |"
           " GFLOP/it (GFLOP/s) |", "|---|---|---|---:|---:|---:|---:|---:|"]
  for kind in (*KINDS, "mix"):
    for s in sides:
      rate = s.rate(kind)
      if s.side == "jax":
        impl = s.info["impl"] + (" = auto" if s.info["impl"] == s.info["auto"] else "")
        ratio = ", ".join(f"{rate / b.rate(kind):.2f}x" for b in baselines)
        compile_s = (f"{s.info['compile_s'][kind]:.0f}" if kind != "mix" else
                     f"{sum(s.info['compile_s'].values()):.0f} (both)")
        gflop = (f"{s.info['gflop'][kind]:.1f} ({s.info['gflop'][kind] * rate:.1f})"
                 if kind != "mix" else "-")
      else:
        impl, ratio, compile_s, gflop = f"modconv {s.info['modconv']}", "(baseline)", "-", "-"
      n = f"({rounds})" if kind != "mix" else "(derived)"
      lines.append(f"| {KIND_LABELS[kind]} | {s.label} | {impl} | {rate:.3f} {n} | "
                   f"{rate * batch:.1f} | {ratio} | {compile_s} | {gflop} |")
  lines += ["", "| side | backend | params G / D | peak RSS MB | RSS after MB | XLA MB plain / R1"
            " | device peak MB |", "|---|---|---|---:|---:|---:|---:|"]
  for s in sides:
    info = s.info
    xla = (f"{info['xla_mb']['plain']:.0f} / {info['xla_mb']['r1']:.0f}" if s.side == "jax"
           else "-")
    device = "-" if math.isnan(info["device_peak_mb"]) else f"{info['device_peak_mb']:.0f}"
    lines.append(f"| {s.label} | {info['backend']} | {info['params'][0]:,} / "
                 f"{info['params'][1]:,} | {info['peak_rss_mb']:.0f} | {info['rss_mb']:.0f} | "
                 f"{xla} | {device} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--variant", default="cpu", choices=("cpu", "gpu"),
                      help="configs/stylegan2.py variant: the model and batch")
  parser.add_argument("--batch", type=int, default=None, help="batch (default: the config's)")
  parser.add_argument("--resolution", type=int, default=None,
                      help="image side (default: the config's 64)")
  parser.add_argument("--iterations", type=int, default=None,
                      help=f"timed iterations per round (default {FULL['iterations']})")
  parser.add_argument("--rounds", type=int, default=None,
                      help=f"timed rounds per side and iteration kind, taken in turns; the "
                           f"median counts (default {FULL['rounds']})")
  parser.add_argument("--conv-impl", default=None, choices=("native", "matmul", "auto"),
                      help="the JAX side's convolutions (default: native and matmul rows on "
                           "CPU, auto elsewhere)")
  parser.add_argument("--quick", action="store_true",
                      help=f"smoke run: {QUICK}, conv impl auto")
  parser.add_argument("--torch-threads", default=None,
                      help="comma-separated torch.set_num_threads on CPU, one torch side each "
                           "(default: os.cpu_count(), and 1 where that is more)")
  parser.add_argument("--torch-modconv", default="scaled", choices=("scaled", "grouped"),
                      help="torch's modulated convolution (module docstring)")
  args = parser.parse_args()
  start = time.perf_counter()
  args.torch_threads = ([int(t) for t in args.torch_threads.split(",")] if args.torch_threads
                        else sorted({os.cpu_count() or 1, 1}, reverse=True))
  sizes = QUICK if args.quick else FULL
  for name, value in sizes.items():
    if getattr(args, name) is None:
      setattr(args, name, value)
  config = gan_config(args)
  from inverse3d.gan.training import spec_from_config
  spec = spec_from_config(config.model)
  batch = config.train.batch_size
  print(f"StyleGAN2 {spec.resolution}x{spec.resolution}, variant {args.variant}: widths "
        f"{spec.channels} at 4 .. {spec.resolution}, w {spec.style_dim}-d, "
        f"{spec.mapping_layers} mapping layers, batch {batch}; {args.rounds} rounds of "
        f"{args.iterations} iterations per side and kind", flush=True)

  ctx = multiprocessing.get_context("spawn")
  sides = []
  try:
    # Built one after another, so that one's compile time is not another's.
    impls = [args.conv_impl or ("auto" if args.quick else "native")]
    while impls:
      impl = impls.pop(0)
      sides.append(Side(ctx, f"jax {impl}", "jax", impl, args))
      info = sides[-1].info
      print(f"  jax {impl} ready at {time.perf_counter() - start:.0f} s (init "
            f"{info['init_s']:.0f} s); backend {info['backend']}, {info['device']}, jax "
            f"{info['version']}", flush=True)
      if args.conv_impl is None and not args.quick and len(sides) == 1 and (
          info["backend"] == "cpu"):
        impls.append("matmul")
    for threads in args.torch_threads:
      label = f"torch {threads} thread{'s' * (threads != 1)}"
      sides.append(Side(ctx, label, "torch", str(threads), args))
      info = sides[-1].info
      print(f"  {label} ready at {time.perf_counter() - start:.0f} s; torch {info['version']} "
            f"on {info['device']}", flush=True)
      if info["backend"] != "cpu":
        sides[-1].label = f"torch {info['backend']}"
        break  # threads are the CPU's
    for r in range(args.rounds):
      for kind in KINDS:
        for s in sides[r % len(sides):] + sides[:r % len(sides)]:
          time.sleep(SETTLE_S)
          s.round(kind)
      print(f"  round {r + 1} done at {time.perf_counter() - start:.0f} s", flush=True)
    for s in sides:
      s.finish()
  finally:  # a child still waiting for a message sees the pipe close and ends
    for s in sides:
      s.close()
  print(f"\n{tables(sides, batch, args.rounds)}")
  order = ", ".join(s.label for s in sides if s.side == "torch")
  print(f"\nJAX/torch: the JAX row's it/s over that of {order} in the same run (above 1: JAX "
        f"faster); images/s: real images per second (batch {batch}). Wall time "
        f"{time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
  main()
