"""Benchmark: forward + backward of shade + render_view, JAX versus the same algorithm in PyTorch.

    python benchmarks/renderer.py [--sizes 64 128] [--batch 16] [--repeats 10]

The loss is the photo-geometric autoencoder's rendering: normals from the depth, shading of the
albedo under a light, the shaded image rendered in a new view, then mean(image) +
mean(depth * mask); its gradient is taken w.r.t. depth, albedo, light and view. The baseline is
the same algorithm (same camera, normals, shading, bounding-box slot rasteriser with a 1/depth
z-buffer, perspective-correct interpolation, bilinear resampling) written with PyTorch CPU
operations and differentiated by autograd; both run on the same inputs, and their losses and
gradients are compared. Every measurement runs in a fresh process, which also reports its peak
resident memory growth over its state after building the inputs (compilation included for
JAX); for JAX the XLA temporary buffers of the compiled step are printed as well. Times are
wall-clock medians (best in brackets) and the process's CPU time, which a busy machine
disturbs less. On a GPU (jax.default_backend() == "gpu") the default batch is 64; the
baseline stays on the CPU.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import time

import numpy as np

FOV_DEG, LOW, HIGH, CAPACITY = 10.0, 0.9, 1.1, 16.0
INSIDE_TOL, MIN_AREA2, NEAR = 1e-4, 1e-6, 1e-3


def make_inputs(batch: int, size: int, seed: int = 0):
  """A bumpy ellipsoid on a plane, random albedo, lights and views within +-30 degrees."""
  rng = np.random.default_rng(seed)
  v, u = np.mgrid[0:size, 0:size] / size
  cap = np.sqrt(np.clip(1 - ((u - 0.5) / 0.35)**2 - ((v - 0.5) / 0.45)**2, 0, 1))
  bumps = 0.005 * np.sin(20 * u + rng.uniform(0, 6, (batch, 1, 1))) * np.cos(17 * v)
  depth = (1.05 - 0.1 * cap + bumps).astype(np.float32)
  albedo = rng.uniform(0.1, 0.9, (batch, size, size, 3)).astype(np.float32)
  light = np.stack([rng.uniform(0.2, 0.5, batch), rng.uniform(0.4, 0.8, batch),
                    rng.uniform(-1, 1, batch), rng.uniform(-1, 1, batch)], 1).astype(np.float32)
  view = np.concatenate([rng.uniform(-1, 1, (batch, 3)) * np.deg2rad(30),
                         rng.uniform(-0.02, 0.02, (batch, 3))], 1).astype(np.float32)
  return depth, albedo, light, view


def jax_loss(depth, albedo, light, view):
  """The benchmark loss with inverse3d.render: (B, S, S), (B, S, S, 3), (B, 4), (B, 6) -> ()."""
  import jax.numpy as jnp
  from inverse3d.render import depth_to_normals, render_view, shade
  image = shade(depth_to_normals(depth), albedo, light)
  new_image, new_depth, mask = render_view(depth, image, view)
  return jnp.mean(new_image) + jnp.mean(new_depth * mask)


# ---------------------------------------------------------------- PyTorch baseline (same algorithm)

def torch_rotation(angles):
  import torch
  c, s = torch.cos(angles), torch.sin(angles)
  one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])
  rx = torch.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], -1)
  ry = torch.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], -1)
  rz = torch.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], -1)
  return rz.view(-1, 3, 3) @ ry.view(-1, 3, 3) @ rx.view(-1, 3, 3)


def torch_setup(corners):
  import torch
  origin = corners[..., 0, :2]
  e1, e2 = corners[..., 1, :2] - origin, corners[..., 2, :2] - origin
  area = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
  inverse = 1.0 / torch.where(area.abs() > MIN_AREA2, area, torch.full_like(area, MIN_AREA2))
  grad_beta = torch.stack([e2[..., 1], -e2[..., 0]], -1) * inverse[..., None]
  grad_gamma = torch.stack([-e1[..., 1], e1[..., 0]], -1) * inverse[..., None]
  return origin, grad_beta, grad_gamma, 1.0 / corners[..., 2].clamp_min(NEAR), area


def torch_rasterize(screen, triangles, height, width):
  import torch
  with torch.no_grad():
    batch, count, pixels = screen.shape[0], triangles.shape[0], height * width
    slots = math.ceil(CAPACITY * batch * pixels)
    corners = screen[:, triangles].reshape(batch * count, 3, 3)
    origin, grad_beta, grad_gamma, q, area = torch_setup(corners)
    low = torch.ceil(corners[..., :2].amin(1) - 1e-3).clamp_min(0)
    high = torch.minimum(torch.floor(corners[..., :2].amax(1) + 1e-3),
                         torch.tensor([width - 1.0, height - 1.0]))
    extent = high - low + 1
    usable = (area.abs() > MIN_AREA2) & (corners[..., 2] > NEAR).all(-1) & (extent >= 1).all(-1)
    tests = torch.where(usable, extent[:, 0] * extent[:, 1], torch.zeros_like(area)).long()
    lo, hi = 0, pixels                                   # bisection on the largest box size
    for _ in range(pixels.bit_length() + 1):
      mid = (lo + hi + 1) // 2
      if tests[tests <= mid].sum() <= slots:
        lo = mid
      else:
        hi = mid - 1
    tests = torch.where(tests <= lo, tests, torch.zeros_like(tests))
    ends = torch.cumsum(tests, 0).clamp_max(slots + 1)
    starts = ends - tests
    index = torch.arange(batch * count)
    first = torch.where((tests > 0) & (starts < slots), starts, torch.full_like(starts, slots))
    marker = torch.full((slots + 1,), -1, dtype=torch.long).scatter_reduce(
        0, first, index, "amax")[:slots]
    owner = torch.cummax(marker, 0).values
    tri = owner.clamp_min(0)
    slot = torch.arange(slots)
    valid = (owner >= 0) & (slot < ends[tri])
    offset = (slot - starts[tri]).float()
    row = torch.floor((offset + 0.5) / extent[tri, 0])
    col = offset - row * extent[tri, 0]
    du, dv = low[tri, 0] + col - origin[tri, 0], low[tri, 1] + row - origin[tri, 1]
    beta = du * grad_beta[tri, 0] + dv * grad_beta[tri, 1]
    gamma = du * grad_gamma[tri, 0] + dv * grad_gamma[tri, 1]
    inside = valid & (beta >= -INSIDE_TOL) & (gamma >= -INSIDE_TOL) & (
        1 - beta - gamma >= -INSIDE_TOL)
    qt = q[tri]
    near = qt[:, 0] + beta * (qt[:, 1] - qt[:, 0]) + gamma * (qt[:, 2] - qt[:, 0])
    near = torch.where(inside, near, torch.full_like(near, -1.0))
    pixel = ((tri // count) * pixels + (low[tri, 1] + row).long() * width
             + (low[tri, 0] + col).long())
    drop = batch * pixels
    target = torch.where(inside, pixel, torch.full_like(pixel, drop))
    zbuffer = torch.zeros(drop + 1).scatter_reduce(0, target, near, "amax")
    won = inside & (near >= zbuffer[target])
    ids = torch.full((drop + 1,), -1, dtype=torch.long).scatter_reduce(
        0, torch.where(won, target, torch.full_like(target, drop)), tri % count, "amax")
    return ids[:drop].view(batch, height, width)


def torch_loss(depth, albedo, light, view):
  """The benchmark loss, written with PyTorch operations (float32, CPU)."""
  import torch
  import torch.nn.functional as F
  batch, height, width = depth.shape
  f = 0.5 * (width - 1) / math.tan(math.radians(FOV_DEG) / 2)
  cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
  v, u = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                        torch.arange(width, dtype=torch.float32), indexing="ij")
  d = depth.clamp(LOW, HIGH)
  points = torch.stack([d * (u - cx) / f, -d * (v - cy) / f, -d], -1)
  p = F.pad(points.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate").permute(0, 2, 3, 1)
  normals = torch.cross(p[:, 2:, 1:-1] - p[:, :-2, 1:-1], p[:, 1:-1, 2:] - p[:, 1:-1, :-2], dim=-1)
  normals = normals * torch.rsqrt((normals * normals).sum(-1, keepdim=True).clamp_min(1e-20))
  direction = torch.cat([light[:, 2:4], torch.ones_like(light[:, :1])], -1)
  direction = direction * torch.rsqrt((direction * direction).sum(-1, keepdim=True))
  cosine = torch.einsum("bhwk,bk->bhw", normals, direction)
  level = light[:, 0, None, None] + light[:, 1, None, None] * cosine.clamp_min(0)
  image = albedo * level[..., None]

  centre = torch.tensor([0.0, 0.0, -1.0])
  moved = torch.einsum("bij,bhwj->bhwi", torch_rotation(view[:, :3]), points - centre)
  moved = moved + centre + view[:, None, None, 3:]
  safe = (-moved[..., 2]).clamp_min(NEAR)
  screen = torch.stack([cx + f * moved[..., 0] / safe, cy - f * moved[..., 1] / safe,
                        -moved[..., 2]], -1).reshape(batch, -1, 3)
  index = torch.arange(height * width).view(height, width)
  triangles = torch.stack([torch.stack([index[:-1, :-1], index[1:, :-1], index[1:, 1:]], -1),
                           torch.stack([index[:-1, :-1], index[1:, 1:], index[:-1, 1:]], -1)],
                          2).reshape(-1, 3)
  ids = torch_rasterize(screen, triangles, height, width)
  mask = ids >= 0
  offsets = (torch.arange(batch) * height * width)[:, None, None, None]
  vertices = triangles[ids.clamp_min(0)] + offsets                         # (B, H, W, 3)
  origin, grad_beta, grad_gamma, q, _ = torch_setup(screen.reshape(-1, 3)[vertices])
  offset = torch.stack([u, v], -1) - origin
  beta, gamma = (offset * grad_beta).sum(-1), (offset * grad_gamma).sum(-1)
  near = (q[..., 0] + beta * (q[..., 1] - q[..., 0]) + gamma * (q[..., 2] - q[..., 0]))
  near = near.clamp_min(1e-6)
  weights = torch.stack([1 - beta - gamma, beta, gamma], -1) * q / near[..., None]
  seen = (weights[..., None] * points.reshape(-1, 3)[vertices]).sum(-2)
  sd = (-seen[..., 2]).clamp_min(NEAR)
  su = (cx + f * seen[..., 0] / sd).clamp(0, width - 1)
  sv = (cy - f * seen[..., 1] / sd).clamp(0, height - 1)
  u0 = torch.floor(su).clamp(0, width - 2)
  v0 = torch.floor(sv).clamp(0, height - 2)
  fu, fv = (su - u0)[..., None], (sv - v0)[..., None]
  flat = image.reshape(-1, image.shape[-1])
  base = offsets[..., 0] + v0.long() * width + u0.long()
  top = flat[base] * (1 - fu) + flat[base + 1] * fu
  bottom = flat[base + width] * (1 - fu) + flat[base + width + 1] * fu
  colour = torch.where(mask[..., None], top * (1 - fv) + bottom * fv, torch.zeros(()))
  new_depth = torch.where(mask, 1.0 / near, torch.full_like(near, HIGH))
  return colour.mean() + (new_depth * mask.float()).mean()


# ---------------------------------------------------------------- measurements (in a child)

def _measure(kind, batch, size, repeats, queue):
  import psutil
  inputs = make_inputs(batch, size)
  result = {}
  if kind == "jax":
    import jax
    import jax.numpy as jnp

    step = jax.jit(jax.value_and_grad(jax_loss, argnums=(0, 1, 2, 3)))
    arrays = [jnp.asarray(x) for x in inputs]
    start_rss = psutil.Process().memory_info().rss
    compiled = step.lower(*arrays).compile()
    analysis = compiled.memory_analysis()
    if analysis is not None:
      result["xla_temp_mb"] = analysis.temp_size_in_bytes / 2**20
    run = lambda: jax.block_until_ready(compiled(*arrays))
    result["device"] = str(jax.devices()[0])
  else:
    import torch
    tensors = [torch.from_numpy(x) for x in inputs]
    start_rss = psutil.Process().memory_info().rss

    def run():
      leaves = [t.clone().requires_grad_(True) for t in tensors]
      value = torch_loss(*leaves)
      value.backward()
      return value.detach(), tuple(leaf.grad for leaf in leaves)

    result["device"] = f"cpu, torch {torch.__version__}, {torch.get_num_threads()} threads"
  value, grads = run()                                     # warm-up (and compilation)
  times, cpu = [], []
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # Linux: KiB
  result.update(ms=1e3 * float(np.median(times)), best_ms=1e3 * min(times),
                cpu_ms=1e3 * float(np.median(cpu)),
                rss_mb=max(peak - start_rss, 0) / 2**20, value=float(value),
                grads=[np.asarray(g) for g in grads])
  if kind == "jax" and result["device"].lower().startswith("cuda"):
    stats = jax.devices()[0].memory_stats() or {}
    result["gpu_peak_mb"] = stats.get("peak_bytes_in_use", 0) / 2**20
  queue.put(result)


def measure(kind, batch, size, repeats):
  context = multiprocessing.get_context("spawn")
  queue = context.Queue()
  process = context.Process(target=_measure, args=(kind, batch, size, repeats, queue))
  process.start()
  result = queue.get()
  process.join()
  return result


def main():
  import jax
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
  gpu = jax.default_backend() == "gpu"
  parser.add_argument("--batch", type=int, default=64 if gpu else 16)
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()

  rows = {}
  for size in args.sizes:
    for kind in ("jax", "torch"):
      rows[kind, size] = measure(kind, args.batch, size, args.repeats)
  print(f"\nforward + backward of shade + render_view, batch {args.batch}, median of "
        f"{args.repeats} runs (best in brackets); JAX on {rows['jax', args.sizes[0]]['device']}, "
        f"baseline PyTorch on {rows['torch', args.sizes[0]]['device']}")
  print(f"{'size':>8} {'impl':>6} {'ms/batch':>16} {'CPU ms':>8} {'torch/jax':>10} "
        f"{'peak RSS +MB':>13} {'XLA temp MB':>12} {'max |grad diff| / max |grad|':>30}")
  for size in args.sizes:
    jax_row, torch_row = rows["jax", size], rows["torch", size]
    diff = max(float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))
               for a, b in zip(jax_row["grads"], torch_row["grads"]))
    for kind, row in (("jax", jax_row), ("torch", torch_row)):
      ratio = f"{torch_row['ms'] / jax_row['ms']:.2f}x" if kind == "jax" else ""
      extra = f"{row['xla_temp_mb']:.1f}" if "xla_temp_mb" in row else "-"
      if "gpu_peak_mb" in row:
        extra += f" (GPU peak {row['gpu_peak_mb']:.0f})"
      agree = f"{diff:.1e} (loss {jax_row['value']:.6f} vs {torch_row['value']:.6f})" \
          if kind == "jax" else ""
      print(f"{size:>4}x{size:<3} {kind:>6} {row['ms']:>8.1f} ({row['best_ms']:>5.1f}) "
            f"{row['cpu_ms']:>8.1f} {ratio:>10} {row['rss_mb']:>13.1f} {extra:>12} {agree:>30}")
  if len(args.sizes) > 1:
    small, large = args.sizes[0], args.sizes[-1]
    pixels = (large / small)**2
    for kind in ("jax", "torch"):
      growth = rows[kind, large]["ms"] / rows[kind, small]["ms"]
      cpu = rows[kind, large]["cpu_ms"] / rows[kind, small]["cpu_ms"]
      print(f"{kind}: {small} -> {large} for {pixels:.1f}x the pixels: time ratio {growth:.2f} "
            f"(CPU time {cpu:.2f}; {'no worse than' if growth <= pixels * 1.1 else 'WORSE than'}"
            f" linear)")


if __name__ == "__main__":
  main()
