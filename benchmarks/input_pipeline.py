"""Benchmark: training steps per second fed by the grain input pipeline versus in-memory batches.

    PYTHONPATH=. python benchmarks/input_pipeline.py [--steps 10] [--rounds 5] [--n 400]
                                                     [--sizes faces,voxels] [--data_dir DIR]

Each feeder feeds a jitted step as the training loop runs it: build a batch, run the step on
``DataParallel.shard(batch)``, wait for its loss. Batches of 40:
  faces   images 32x32x1 + shapes 4017x3 float32; the project's fine-tuning step of the faces
          model (linear 1024-60, FF 60-100-98, linear 98-12051: registry model,
          mapping.stage_step without the gradient norm, Adam)
  voxels  images 32x32x1 + shapes 30^3 float32 (stored as uint8 0/1 in TFDS, cast per batch);
          a small SGD step (images and shapes each mapped linearly to 8 numbers, one squared
          error): the voxel models' steps are 5-50x slower than the faces step, too slow for
          any feeder here to matter, so this row asks more of the pipeline
Feeders, over the same ``--n`` records:
  numpy            today's loop: ``arrays[k][order.rows(step)]`` (fancy indexing)
  grain <src> T/P  inverse3d.train.input.Batches (one grain record per step, the step's rows
                   read at once) over an ArraySource (src "memory") or a TFDS array_record
                   build ("tfds", the project's builder machinery, written once into
                   --data_dir); T/P: grain.ReadOptions reader threads / steps buffered ahead
                   (0/0 and 2/4 are Batches' defaults for memory and tfds)
"feed/s" is the feeder alone (batches per second, no step), "steps/s" the step fed by it; the
feeders take turns, one round of ``--steps`` each, for ``--rounds`` rounds, and each reports
its median round (after a pause in which the previous feeder's reader threads finish filling
their buffers); "vs numpy" is the median over rounds of steps/s over numpy's in the same
round. The machine may be shared: read the ratios, not the absolute rates. Last, the time
``ArraySource.from_source`` takes to decode the TFDS records into memory once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import grain.python as grain
import jax
import numpy as np

from inverse3d.train.input import ArraySource, Batches, GlobalOrder
from inverse3d.train.sources import KeyedSource

SIZES = {"faces": (4017, 3), "voxels": (30, 30, 30)}
BATCH = 40
SETTLE_S = 0.2  # pause before each round: the last feeder's reader threads fill their buffer
# (source, reader threads, buffer in steps): grain.ReadOptions of each feeder. Batches'
# defaults: memory 0/0 (MEMORY_READ), tfds 2/4 (SOURCE_READ).
FEEDERS = (("memory", 0, 0), ("tfds", 0, 0), ("tfds", 2, 4), ("tfds", 4, 8))


def make_records(size: str, n: int, seed: int = 0) -> dict:
  """``{"images": (n, 32, 32, 1) float32, "shapes": (n, *SIZES[size])}``; voxels uint8 0/1."""
  rng = np.random.default_rng(seed)
  images = rng.random((n, 32, 32, 1), dtype=np.float32)
  if size == "faces":
    shapes = rng.random((n, *SIZES[size]), dtype=np.float32)
  else:
    shapes = (rng.random((n, *SIZES[size])) > 0.8).astype(np.uint8)
  return {"images": images, "shapes": shapes}


def tfds_records(size: str, n: int, data_dir: str) -> KeyedSource:
  """The records of :func:`make_records` as a TFDS array_record build (built once), opened as
  a source. It goes through the project's builder (tfds_builders._ArraysBuilder: one zlib
  Tensor feature per array), with a benchmark-only DatasetSource."""
  import tensorflow_datasets as tfds

  from inverse3d.data import tfds_builders as tb

  name = "input_bench_pairs"
  source = tb.DatasetSource(lambda size, n: ({"train": make_records(size, n)}, {}),
                            dict(size="faces", n=400), "Benchmark records (random).")
  builder_class = type("InputBenchPairs", (tb._ArraysBuilder,),  # pylint: disable=protected-access
                       dict(name=name, SOURCE=source, __module__=__name__),
                       skip_registration=True)
  options = dict(size=size, n=n)
  config = tb.config_name(options)
  if not os.path.isfile(os.path.join(data_dir, name, config, tb.VERSION, "dataset_info.json")):
    builder = builder_class(options=options, config=tfds.core.BuilderConfig(name=config),
                            data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
  records = tfds.data_source(f"{name}/{config}:{tb.VERSION}", data_dir=data_dir, split="train",
                             download=False)
  return KeyedSource(records, ["images", "shapes"], label=f"tfds {name}/{config}")


def model_step(size: str):
  """``(run, dp, state)``: the project's fine-tuning step of the faces model, jitted."""
  from inverse3d.mapping import TRAINABLE, build_model, default_config, init_params, stage_step
  from inverse3d.train import DataParallel, build_optimizer, create_state

  config = default_config("points", shape_shape=SIZES[size], image_encoder="linear",
                          mapping="ff", shape_decoder="linear")
  model = build_model(config.model)
  optimizer = build_optimizer(config.train.optimizer, 10 ** 6)
  state = create_state(init_params(model, jax.random.key(0)), optimizer, TRAINABLE["finetune"])
  dp = DataParallel(jax.devices()[:1])
  run = dp.compile(stage_step(model, "finetune", optimizer, grad_norm=False))
  return run, dp, dp.replicate(state)


def small_step(size: str):
  """``(run, dp, state)``: SGD on a linear image code against a linear shape code, the batch
  reduced to one loss; a fraction of the models' cost, so the feeder dominates."""
  import jax.numpy as jnp

  from inverse3d.train.parallel import DataParallel

  dim = int(np.prod(SIZES[size]))
  rng = np.random.default_rng(0)
  state = {"w": rng.standard_normal((1024, 8), np.float32) * 0.01,
           "v": rng.standard_normal((dim, 8), np.float32) * 0.01}

  def loss(params, batch):
    x = batch["images"].reshape(len(batch["images"]), -1)
    y = batch["shapes"].reshape(len(batch["shapes"]), -1)
    return jnp.mean(jnp.square(x @ params["w"] - y @ params["v"]))

  def step(params, batch):
    value, grads = jax.value_and_grad(loss)(params, batch)
    return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads), {"loss": value}

  dp = DataParallel(jax.devices()[:1])
  return jax.jit(step, donate_argnums=0), dp, jax.device_put(state)


STEPS = {"faces": model_step, "voxels": small_step}
LOAD_TIMES = {}  # size -> seconds of ArraySource.from_source(the TFDS source)


def float_shapes(batch: dict) -> dict:
  """The batch as the step takes it: float32 (the uint8 voxels of TFDS cast)."""
  return {k: v if v.dtype == np.float32 else v.astype(np.float32) for k, v in batch.items()}


def feeders(size: str, n: int, data_dir: str, key) -> dict:
  """``{label: next_batch()}`` for every feeder of the module docstring."""
  records = make_records(size, n)
  arrays = float_shapes(records)  # the loop holds float32 arrays
  order = GlobalOrder(key, n, BATCH)
  steps = iter(range(10 ** 9))

  def numpy_batch():
    rows = order.rows(next(steps))
    return {k: v[rows] for k, v in arrays.items()}

  sources = {"memory": ArraySource(arrays), "tfds": tfds_records(size, n, data_dir)}
  start = time.perf_counter()
  loaded = ArraySource.from_source(sources["tfds"])
  LOAD_TIMES[size] = time.perf_counter() - start
  assert all(np.array_equal(loaded.arrays[k], records[k]) for k in records)
  out = {"numpy": numpy_batch}
  for label, threads, buffer in FEEDERS:
    options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=buffer)
    loader = Batches(sources[label], key, BATCH, read_options=options)
    out[f"grain {label} {threads}/{buffer}"] = loader.__next__
  return {k: (lambda f=f: float_shapes(f())) for k, f in out.items()}


def measure(size: str, args, key) -> dict:
  """``{label: (feed/s, steps/s, steps/s over numpy's)}``, medians over ``args.rounds`` rounds
  taken in turns; the ratio is taken within each round, against numpy's round."""
  run, dp, state = STEPS[size](size)
  feeds = feeders(size, args.n, args.data_dir, key)
  holder = [state]

  def step(batch):
    holder[0], metrics = run(holder[0], dp.shard(batch))
    return float(jax.device_get(metrics)["loss"])

  for feed in feeds.values():  # warm up: compile, start grain's threads, fill its buffers
    for _ in range(3):
      step(feed())
  rates = {label: ([], []) for label in feeds}
  labels = list(feeds)
  for r in range(args.rounds):
    for label in labels[r % len(labels):] + labels[:r % len(labels)]:
      feed = feeds[label]
      time.sleep(SETTLE_S)
      start = time.perf_counter()
      for _ in range(args.steps):
        feed()
      middle = time.perf_counter()
      for _ in range(args.steps):
        step(feed())
      end = time.perf_counter()
      rates[label][0].append(args.steps / (middle - start))
      rates[label][1].append(args.steps / (end - middle))
  base = rates["numpy"][1]
  return {label: (statistics.median(a), statistics.median(b),
                  statistics.median(x / y for x, y in zip(b, base)))
          for label, (a, b) in rates.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
  parser.add_argument("--rounds", type=int, default=5, help="rounds per feeder; median counts")
  parser.add_argument("--n", type=int, default=400, help="records in each source")
  parser.add_argument("--sizes", default="faces,voxels", help="comma-separated of faces, voxels")
  parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(),
                                                         "inverse3d_input_bench"),
                      help="where the TFDS builds are written (once) and read")
  args = parser.parse_args()
  key = jax.random.key(0)
  print("| size | feeder | feed/s | steps/s | steps/s vs numpy |")
  print("|---|---|---|---|---|")
  for size in args.sizes.split(","):
    if size not in SIZES:
      raise SystemExit(f"--sizes: expected names among {sorted(SIZES)}, got {size!r}")
    for label, (feed, steps, ratio) in measure(size, args, key).items():
      print(f"| {size} | {label} | {feed:.0f} | {steps:.1f} | {ratio:.2f}x |", flush=True)
  for size, seconds in LOAD_TIMES.items():
    print(f"\n{size}: ArraySource.from_source(tfds) read the {args.n} records into memory in "
          f"{seconds:.2f} s")


if __name__ == "__main__":
  main()
