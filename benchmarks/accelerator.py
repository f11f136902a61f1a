"""Benchmark: the project's hot paths on whatever JAX backend is present (CPU, GPU or TPU).

    python benchmarks/accelerator.py [--quick] [--rounds 5]

Rows, each timed as the median of ``--rounds`` rounds (3 at least, fewer than asked once a row
has taken its time budget) after a warm-up call (the compilation), every round waiting for its
last result (``block_until_ready``):
  train step   the fine-tuning step of the faces FF and voxel conv models (train_step.jax_step),
               the conv model with impl "native" (lax convolutions) and "batch_last" (the
               matrix products of models.batch_last); the ratio compares the two
  renderer     shade + render_view forward and backward (renderer.jax_loss), 64x64, batch 16
  closed form  Table 2's low-dim and direct LS, fit + predict (closed_form.ours) on procedural
               objects, against the same equations in NumPy (closed_form.baseline; its low-dim
               LS needs scikit-learn, and is left out without it)
Ratios are baseline time / this row's time (above 1: faster than the baseline), both measured
in this run. Sizes (SIZES): train batch 40 and 32x32 views of 200 shapes, or with ``--quick``
batch 4 and 16x16 views of 60 shapes. On 2 busy CPU cores ``--quick`` took 1-1.5 minutes, most
of it XLA compiling (init, steps, the renderer, the data); the full sizes, an estimated 3.
Run it from the repository root with the checkout's ``inverse3d`` importable (``pip install
-e .``). Nothing in tests or CI runs it.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp

import closed_form
import renderer
import train_step
from inverse3d.data.pairs import make_paired_dataset
from inverse3d.models.conv import resolve_conv_impl

MIN_ROUND_S = 0.2  # fast calls repeat within a round, so that a round outlasts timer noise
# train batch; closed form: train/test shapes, image side, PCA sizes; timing budget per row (s)
SIZES = {
    "full": dict(batch=40, n_train=200, n_test=50, image_size=32, k_image=60, k_shape=150,
                 budget_s=12.0),
    "quick": dict(batch=4, n_train=60, n_test=20, image_size=16, k_image=20, k_shape=40,
                  budget_s=2.0),
}


def seconds_per_call(run, rounds: int, budget_s: float) -> tuple[float, int]:
  """(median seconds per call of ``run()``, rounds timed): after a warm-up call, ``rounds``
  rounds, or fewer (3 at least) once they took ``budget_s``. A round repeats a fast call to
  last MIN_ROUND_S (from the first round's time) and waits for its last result."""
  jax.block_until_ready(run())
  times, calls, spent = [], 1, 0.0
  while len(times) < min(3, rounds) or (len(times) < rounds and spent < budget_s):
    start = time.perf_counter()
    for _ in range(calls):
      out = run()
    jax.block_until_ready(out)
    elapsed = time.perf_counter() - start
    times.append(elapsed / calls)
    spent += elapsed
    calls = min(50, max(1, math.ceil(MIN_ROUND_S / times[0])))
  return statistics.median(times), len(times)


def train_rows(size: dict, rounds: int, backend: str) -> list[dict]:
  batch = size["batch"]
  rows = []
  for model, impl in (("faces_ff", "auto"), ("objects_conv", "native"),
                      ("objects_conv", "batch_last")):
    step, _, _ = train_step.jax_step(model, batch, impl)
    rows.append(dict(what=f"train step {model}, batch {batch}", backend=backend,
                     impl=impl if model == "objects_conv" else "-",
                     timing=seconds_per_call(step, rounds, size["budget_s"])))
  native, batch_last = rows[1], rows[2]
  native["baseline"], native["ratio"] = "batch_last", batch_last["timing"][0] / native["timing"][0]
  batch_last["baseline"] = "(baseline)"
  return rows


def renderer_rows(size: dict, rounds: int, backend: str) -> list[dict]:
  arrays = [jnp.asarray(x) for x in renderer.make_inputs(16, 64)]
  step = jax.jit(jax.value_and_grad(renderer.jax_loss, argnums=(0, 1, 2, 3)))
  return [dict(what="renderer fwd+bwd 64x64, batch 16", backend=backend, impl="-",
               timing=seconds_per_call(lambda: step(*arrays), rounds, size["budget_s"]))]


def closed_form_rows(size: dict, rounds: int, backend: str) -> list[dict]:
  data = make_paired_dataset("procedural_objects", jax.random.key(0), size["n_train"],
                             size["n_test"], image_size=size["image_size"])
  splits = {split: closed_form.flat_split(data[split]["images"], data[split]["shapes"])
            for split in ("train", "test")}
  args = argparse.Namespace(k_image=size["k_image"], k_shape=size["k_shape"], ridge=0.0,
                            seed=0, power_iters=4)
  ours, numpy = closed_form.ours(dict(splits), args), closed_form.baseline(dict(splits), args)
  try:
    import sklearn  # noqa: F401  (the NumPy baseline's PCA)
  except ImportError:
    numpy.pop("lowdim")
  n, views = data["train"]["images"].shape[:2]
  rows = []
  for method, label in (("lowdim", "low-dim LS"), ("direct", "direct LS")):
    what = (f"closed form {label} fit+predict, {n} shapes x {views} views at "
            f"{size['image_size']}^2")
    mine = dict(what=what, backend=backend, impl="inverse3d.linear",
                timing=seconds_per_call(ours[method], rounds, size["budget_s"]))
    rows.append(mine)
    if method in numpy:
      base = dict(what=what, backend="cpu", impl="NumPy" + "/sklearn" * (method == "lowdim"),
                  timing=seconds_per_call(numpy[method], rounds, size["budget_s"]),
                  baseline="(baseline)")
      mine["baseline"], mine["ratio"] = base["impl"], base["timing"][0] / mine["timing"][0]
      rows.append(base)
    else:
      mine["baseline"] = "(no scikit-learn: not run)"
  return rows


def table(rows: list[dict]) -> str:
  lines = ["| what | backend | impl | ms per call (rounds) | vs baseline |",
           "|---|---|---|---:|---|"]
  for row in rows:
    ratio = (f"{row['ratio']:.2f}x {row['baseline']}" if "ratio" in row
             else row.get("baseline", "-"))
    seconds, rounds = row["timing"]
    lines.append(f"| {row['what']} | {row['backend']} | {row['impl']} | "
                 f"{1e3 * seconds:.1f} ({rounds}) | {ratio} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="small sizes (SIZES['quick'])")
  parser.add_argument("--rounds", type=int, default=None,
                      help="timed rounds per row (default 5, 3 with --quick)")
  args = parser.parse_args()
  size = SIZES["quick" if args.quick else "full"]
  rounds = args.rounds or (3 if args.quick else 5)
  backend, device = jax.default_backend(), jax.devices()[0]
  print(f"backend {backend}, {jax.device_count()} x {device.device_kind}, jax {jax.__version__};"
        f" conv impl 'auto' is {resolve_conv_impl('auto')!r} here; median of {rounds} rounds",
        flush=True)
  start = time.perf_counter()
  rows = []
  for build in (train_rows, renderer_rows, closed_form_rows):
    rows += build(size, rounds, backend)
    print(f"  {build.__name__.removesuffix('_rows')} done at {time.perf_counter() - start:.0f} s",
          flush=True)
  print()
  print(table(rows))
  print("\nvs baseline: the baseline's time / this row's (above 1: faster), both in this run.")


if __name__ == "__main__":
  main()
