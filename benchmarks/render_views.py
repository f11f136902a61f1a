"""Benchmark: 8 shaded views of every ModelNet10 training shape, JAX versus plain NumPy.

    python benchmarks/render_views.py [--numpy-shapes 400] [--size 32] [--batch 64]

Renders all 3,991 training shapes of shared/data/modelnet10_vox30.npz from the 8 azimuths of
OBJECT_VIEW_ANGLES with inverse3d.data.render_voxel_views (timed twice: the first call includes
compilation), then the same images with a straightforward NumPy renderer of the same algorithm
(float64; per view, the ordered voxels each pixel's ray crosses; per shape and view, the first
occupied one). The NumPy renderer runs on the first --numpy-shapes shapes and its time is
extrapolated to the whole set; the two renderers' images are compared on those shapes.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from inverse3d.data.paths import resolve_data_path
from inverse3d.data.views import (AMBIENT, DIFFUSE, LIGHT, OBJECT_VIEW_ANGLES, VIEW_ELEVATION,
                                  VIEW_FIELD, render_voxel_views)
from inverse3d.progress import Progress


def numpy_segments(angle_deg: float, size: int, grid: int):
  """Per pixel: the flat indices of the voxels its ray crosses in order (grid**3 outside the
  grid) and the shade of the face it enters each one through. Float64, no JAX."""
  theta, elev = np.deg2rad(angle_deg), np.deg2rad(VIEW_ELEVATION)
  right = np.array([np.cos(theta), -np.sin(theta), 0.0])
  toward = np.array([-np.sin(theta) * np.cos(elev), -np.cos(theta) * np.cos(elev), np.sin(elev)])
  up = np.cross(toward, right)
  half = VIEW_FIELD * grid / 2
  s = (np.arange(size) + 0.5) * 2 * half / size - half
  cells = np.full((size * size, 3 * grid + 2), grid ** 3)
  shade = np.zeros(cells.shape)
  light = np.asarray(LIGHT) / np.linalg.norm(LIGHT)
  light_world = light[0] * right + light[1] * up + light[2] * toward
  direction = -toward
  for row in range(size):
    for col in range(size):
      origin = (grid - 1) / 2 + s[col] * right - s[row] * up + grid * toward
      crossings = []  # (t, axis) of every plane between voxels that the ray meets
      for axis in range(3):
        if abs(direction[axis]) > 1e-7:
          for plane in np.arange(grid + 1) - 0.5:
            crossings.append(((plane - origin[axis]) / direction[axis], axis))
      crossings.sort()
      for k in range(len(crossings) - 1):
        t, axis = crossings[k]
        index = np.floor(origin + (t + crossings[k + 1][0]) / 2 * direction + 0.5).astype(int)
        if np.all((index >= 0) & (index < grid)):
          cells[row * size + col, k] = (index[0] * grid + index[1]) * grid + index[2]
          normal_light = -np.sign(direction[axis]) * light_world[axis]
          shade[row * size + col, k] = AMBIENT + DIFFUSE * max(normal_light, 0.0)
  return cells, shade


def numpy_render(voxels: np.ndarray, tables, size: int) -> np.ndarray:
  """(N, A, size, size) images: per shape and view (tables from numpy_segments), the first
  occupied voxel of each ray."""
  n = voxels.shape[0]
  images = np.zeros((n, len(tables), size, size))
  progress = Progress("numpy render", total=n, unit="shapes")
  for i in range(n):
    flat = np.append(voxels[i].reshape(-1) > 0, False)
    for a, (cells, shade) in enumerate(tables):
      occupied = flat[cells]
      first = np.argmax(occupied, axis=1)
      hit = occupied[np.arange(len(cells)), first]
      images[i, a] = np.where(hit, shade[np.arange(len(cells)), first], 0.0).reshape(size, size)
    progress.update(1)
  progress.close()
  return images


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data", default="modelnet10_vox30.npz")
  parser.add_argument("--numpy-shapes", type=int, default=400)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--batch", type=int, default=64)
  args = parser.parse_args()
  voxels = np.load(resolve_data_path(args.data))["X_train"]
  n, views = len(voxels), len(OBJECT_VIEW_ANGLES)

  start = time.perf_counter()
  ours = np.asarray(render_voxel_views(voxels, OBJECT_VIEW_ANGLES, args.size, batch=args.batch))
  first = time.perf_counter() - start
  start = time.perf_counter()
  ours = np.asarray(render_voxel_views(voxels, OBJECT_VIEW_ANGLES, args.size, batch=args.batch))
  jax_time = time.perf_counter() - start

  subset = min(args.numpy_shapes, n)
  start = time.perf_counter()
  tables = [numpy_segments(a, args.size, voxels.shape[1]) for a in OBJECT_VIEW_ANGLES]
  setup = time.perf_counter() - start
  start = time.perf_counter()
  reference = numpy_render(voxels[:subset], tables, args.size)
  numpy_time = setup + (time.perf_counter() - start) / subset * n
  difference = np.abs(ours[:subset] - reference)

  rows = [("jax render_voxel_views (1st call, compiles)", n, first),
          ("jax render_voxel_views", n, jax_time),
          (f"numpy same algorithm (timed on {subset}, extrapolated)", n, numpy_time)]
  print(f"\nModelNet10 train: {n} shapes x {views} views at {args.size}x{args.size}")
  print(f"{'renderer':<52} {'shapes':>7} {'seconds':>9} {'views/s':>10} {'numpy/this':>11}")
  for name, count, seconds in rows:
    print(f"{name:<52} {count:>7} {seconds:>9.2f} {count * views / seconds:>10.0f} "
          f"{numpy_time / seconds:>10.1f}x")
  print(f"images agree on the {subset} shapes: max |jax - numpy| = {difference.max():.2e}, "
        f"pixels differing by > 1e-5: {np.count_nonzero(difference > 1e-5)} of {difference.size}")
  print(f"requirement: all shapes x 8 views under 60 s -> "
        f"{'met' if jax_time < 60 else 'NOT met'} ({jax_time:.1f} s)")


if __name__ == "__main__":
  main()
