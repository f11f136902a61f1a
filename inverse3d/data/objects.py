"""Procedural furniture in the ten ModelNet10 classes, voxelised like the real data.

Each class is a small constructive solid: a fixed list of axis-aligned primitives (boxes and
elliptic cylinders) whose proportions are drawn at random, some of them carving (drawer
grooves, the inside of a bathtub or a toilet bowl). A primitive is one row of ``_ROW`` floats::

    [kind, carve, x0, x1, y0, y1, z0, z1]

with kind 0 = unused, 1 = box, 2/3/4 = elliptic cylinder along x/y/z inscribed in the bounds.
A voxel is occupied when its centre lies in some solid primitive and in no carving one.

Conventions follow shared/data/modelnet10_vox30.npz (ModelNet10 through binvox at 24^3, padded
by 3): axis 2 is vertical (z up), the long horizontal side of a piece runs along axis 1 (y),
chair backs, bed headboards and toilet tanks sit at +y, sofa backs at +x, and every object is
centred in the grid with its largest extent scaled to fill [3, grid - 4] (24 voxels at 30^3).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from inverse3d.checks import check_choice, check_positive_int
from inverse3d.data.modelnet import MODELNET10_CLASSES

OBJECT_CLASSES = MODELNET10_CLASSES
"""The ModelNet10 classes, in the order of the real data's labels."""

NONE, BOX, CYL_X, CYL_Y, CYL_Z = 0, 1, 2, 3, 4
_ROW = 8
MAX_PRIMITIVES = 12
_DRAWS = 10  # uniforms per object, enough for every builder
PADDING = 3  # empty voxels on every side, as in 3D ShapeNets
_MARGIN = 0.1  # keeps the outermost voxel centres strictly inside the scaled object
_VOXEL_BATCH = 32  # samples voxelised at once at 30^3 (memory: about 3 MB each, 110 B a voxel)
MAX_GRID = 256
"""Largest grid side: voxelising one 256^3 object takes about 2 GB (110 bytes a voxel)."""
MAX_OBJECTS = 10 ** 6
"""Most objects per call: each draws the primitives of every class (3840 bytes)."""
MAX_VOXELS = 2 ** 33
"""Most voxels per call, n * grid^3 (8 GiB of uint8 output)."""


def _prim(bounds, kind=BOX, carve=False):
  """One primitive row from bounds (x0, x1, y0, y1, z0, z1); kind may be a traced int."""
  head = [jnp.asarray(kind, jnp.float32), jnp.asarray(carve, jnp.float32)]
  return jnp.stack(head + [jnp.asarray(b, jnp.float32) for b in bounds])


def _draw(u, ranges):
  """Maps the first uniforms of ``u`` (D,) onto the (low, high) pairs. Returns scalars."""
  low, high = jnp.asarray(ranges, jnp.float32).T
  return tuple(low + (high - low) * u[:len(ranges)])


def _legs(x, y, z1, t, kind=BOX, z0=0.0):
  """Four legs of width ``t`` inside the corners of [-x, x] x [-y, y], from z0 up to z1."""
  return [_prim((sx * x - (sx > 0) * t, sx * x + (sx < 0) * t,
                 sy * y - (sy > 0) * t, sy * y + (sy < 0) * t, z0, z1), kind)
          for sx in (-1, 1) for sy in (-1, 1)]


def _bathtub(u):
  length, width, height, wall, oval = _draw(u, [(20, 24), (11, 15), (7, 10), (1.3, 2), (0, 1)])
  kind = jnp.where(oval < 0.4, CYL_Z, BOX)
  x, y = width / 2, length / 2
  return [_prim((-x, x, -y, y, 0, height), kind),
          _prim((-x + wall, x - wall, -y + wall, y - wall, wall, height + 1), kind, True)]


def _bed(u):
  length, width, base, mattress, head, foot, legs, footboard = _draw(
      u, [(21, 24), (15, 20), (3.5, 5), (2, 3), (10, 13), (0.5, 2.5), (1.2, 2.5), (0, 1)])
  x, y, top = width / 2, length / 2, base + mattress
  footboard = jnp.where(footboard < 0.5, BOX, NONE)
  return _legs(x, y, legs, 1.5) + [
      _prim((-x, x, -y, y, legs, base)),
      _prim((-x + 0.5, x - 0.5, -y + 0.5, y - 1.5, base, top)),
      _prim((-x, x, y - 1.5, y, 0, head)),
      _prim((-x, x, -y, -y + 1.5, 0, top + foot), footboard),
      _prim((-x + 1.5, x - 1.5, y - 6, y - 2, top, top + 1.3))]


def _chair(u):
  width, depth, seat, thick, height, back, leg, round_legs, arms = _draw(
      u, [(13, 17), (13, 17), (9, 12), (1.2, 2), (21, 25), (1.3, 2), (1.3, 1.8), (0, 1), (0, 1)])
  leg_kind = jnp.where(round_legs < 0.5, CYL_Z, BOX)
  arms = jnp.where(arms < 0.3, BOX, NONE)
  x, y, top = width / 2, depth / 2, seat + thick
  arm_z = top + 0.35 * (height - top)
  return _legs(x, y, seat, leg, leg_kind) + [
      _prim((-x, x, -y, y, seat, top)),
      _prim((-x, x, y - back, y, top, height)),
      _prim((-x, -x + 1.4, -y, y, arm_z - 1.2, arm_z), arms),
      _prim((x - 1.4, x, -y, y, arm_z - 1.2, arm_z), arms)]


def _desk(u):
  width, length, height, thick, panel, drawers, side = _draw(
      u, [(12, 15), (22, 24), (13, 15), (1.2, 1.8), (1.2, 1.8), (6, 8), (0, 1)])
  x, y = width / 2, length / 2
  side = jnp.where(side < 0.5, 1.0, -1.0)  # which end holds the drawers
  inner, outer = side * (y - drawers), side * (y - 0.5)
  grooves = [_prim((-x - 1, -x + 0.8, jnp.minimum(inner, outer) + 1,
                    jnp.maximum(inner, outer) - 1, z - 0.6, z + 0.6), BOX, True)
             for z in (height / 3, 2 * height / 3)]
  return [_prim((-x, x, -y, y, height - thick, height)),
          _prim((-x + 0.5, x - 0.5, -y, -y + panel, 0, height)),
          _prim((-x + 0.5, x - 0.5, y - panel, y, 0, height)),
          _prim((-x + 0.5, x - 0.5, jnp.minimum(inner, side * y),
                 jnp.maximum(inner, side * y), 0, height)),
          _prim((x - panel, x - 0.5, -y, y, 0.45 * height, height))] + grooves


def _dresser(u):
  width, length, height, plinth, count = _draw(
      u, [(10, 14), (16, 22), (20, 24), (0.8, 2), (3, 6)])
  count = jnp.floor(count)  # 3, 4 or 5 drawers
  x, y = width / 2, length / 2
  step = (height - plinth) / count
  grooves = [_prim((-x - 1, -x + 1.2, -y + 1.2, y - 1.2, plinth + i * step - 0.6,
                    plinth + i * step + 0.6), jnp.where(i < count, BOX, NONE), True)
             for i in range(1, 5)]
  return [_prim((-x + 0.8, x - 0.8, -y + 0.8, y - 0.8, 0, plinth)),
          _prim((-x, x, -y, y, plinth, height))] + grooves


def _monitor(u):
  thick, length, screen, lift, base_x, base_y, neck, oval = _draw(
      u, [(2, 3), (20, 24), (12, 16), (3, 6), (6, 10), (6, 10), (2, 4), (0, 1)])
  base_kind = jnp.where(oval < 0.5, CYL_Z, BOX)
  y, t = length / 2, thick / 2
  return [_prim((-t, t, -y, y, lift, lift + screen)),
          _prim((-t - 1, -t + 0.8, -y + 1.3, y - 1.3, lift + 1.3, lift + screen - 1.3),
                BOX, True),
          _prim((t, t + 1.5, -neck / 2, neck / 2, 0, lift + screen / 2)),
          _prim((t + 0.75 - base_x / 2, t + 0.75 + base_x / 2, -base_y / 2, base_y / 2, 0,
                 1.3), base_kind)]


def _night_stand(u):
  width, length, height, legs, shelf = _draw(u, [(15, 20), (16, 21), (19, 24), (2, 4), (0, 1)])
  shelf = jnp.where(shelf < 0.6, BOX, NONE)
  x, y = width / 2, length / 2
  drawer = height - 0.3 * (height - legs)
  return _legs(x - 0.5, y - 0.5, legs, 1.8) + [
      _prim((-x + 0.5, x - 0.5, -y + 0.5, y - 0.5, legs, height - 1.2)),
      _prim((-x, x, -y, y, height - 1.2, height)),
      _prim((-x - 1, -x + 1.7, -y + 2, y - 2, drawer - 0.6, drawer + 0.6), BOX, True),
      _prim((-x - 1, x - 2.5, -y + 2, y - 2, legs + 1.5, drawer - 2), shelf, True)]


def _sofa(u):
  length, depth, seat, height, back, arm, arm_h = _draw(
      u, [(21, 24), (10, 13), (4, 5.5), (8, 10), (2, 3), (1.5, 3), (1.5, 3)])
  x, y = depth / 2, length / 2
  arm_top = jnp.minimum(seat + arm_h, height - 1.5)  # arms stay below the back
  return [_prim((-x, x, -y, y, 0, seat)),
          _prim((x - back, x, -y, y, 0, height)),
          _prim((-x, x, -y, -y + arm, 0, arm_top)),
          _prim((-x, x, y - arm, y, 0, arm_top)),
          _prim((-x - 1, x - back, -0.5, 0.5, seat - 0.8, seat + 1), BOX, True)]


def _table(u):
  length, width, height, thick, leg, round_top = _draw(
      u, [(20, 24), (11, 19), (12, 15), (1.2, 2), (1.3, 2), (0, 1)])
  round_top = round_top < 0.3
  x, y = width / 2, length / 2
  legs = _legs(x - 0.8, y - 0.8, height, leg, jnp.where(round_top, NONE, BOX))
  pedestal = jnp.where(round_top, CYL_Z, NONE)
  return legs + [
      _prim((-x, x, -y, y, height - thick, height), jnp.where(round_top, CYL_Z, BOX)),
      _prim((-1.5, 1.5, -1.5, 1.5, 0, height), pedestal),
      _prim((-0.3 * x, 0.3 * x, -0.3 * y, 0.3 * y, 0, 1.3), pedestal)]


def _toilet(u):
  width, radius, seat, foot, tank, depth, height, wall = _draw(
      u, [(12, 15), (6.5, 8.5), (10, 12), (4, 6), (4, 6), (5, 7), (20, 23), (1.3, 1.8)])
  back = radius + tank - 1  # the tank overlaps the back of the bowl
  bowl = (-depth, depth, -radius, radius)
  inner = (-depth + wall, depth - wall, -radius + wall, radius - wall)
  return [_prim(bowl + (foot, seat), CYL_Z),
          _prim(inner + (foot + 2, seat + 1), CYL_Z, True),
          _prim((-0.6 * depth, 0.6 * depth, -0.6 * radius, 0.6 * radius, 0, foot), CYL_Z),
          _prim((-0.5 * depth, 0.5 * depth, 0, back - 1, 0, seat)),
          _prim((-width / 2, width / 2, back - tank, back, seat - 1, height))]


_BUILDERS = (_bathtub, _bed, _chair, _desk, _dresser, _monitor, _night_stand, _sofa, _table,
             _toilet)


def _primitives(u, builder):
  """(MAX_PRIMITIVES, _ROW) rows of one object of ``builder``'s class from uniforms u (_DRAWS,)
  that set its proportions and options."""
  rows = jnp.stack(builder(u))
  return jnp.pad(rows, ((0, MAX_PRIMITIVES - rows.shape[0]), (0, 0)))


def voxelise(primitives: jax.Array, grid: int = 30) -> jax.Array:
  """Occupancy of one object on the voxel-centre grid.

  primitives: (P, 8) rows [kind, carve, x0, x1, y0, y1, z0, z1] in any units. The object (the
  bounding box of its solid primitives) is centred and scaled so that its largest extent spans
  [PADDING, grid - 1 - PADDING] in voxel-centre coordinates. Returns (grid, grid, grid) bool.
  """
  kind, carve = primitives[:, 0], primitives[:, 1] > 0
  lo, hi = primitives[:, 2::2], primitives[:, 3::2]  # (P, 3)
  solid = (kind > 0) & ~carve
  box_lo = jnp.min(jnp.where(solid[:, None], lo, jnp.inf), axis=0)
  box_hi = jnp.max(jnp.where(solid[:, None], hi, -jnp.inf), axis=0)
  scale = (grid - 1 - 2 * PADDING + 1 - 2 * _MARGIN) / jnp.max(box_hi - box_lo)
  coords = (jnp.arange(grid, dtype=jnp.float32) - (grid - 1) / 2) / scale
  q = (box_lo + box_hi)[:, None] / 2 + coords  # (3, G) object coordinates of voxel centres
  t = (q - ((lo + hi) / 2)[:, :, None]) / jnp.maximum((hi - lo) / 2, 1e-6)[:, :, None]
  inside = jnp.abs(t) <= 1  # (P, 3, G)
  sq = t * t
  ix, iy, iz = inside[:, 0, :, None, None], inside[:, 1, None, :, None], inside[:, 2, None, None]
  sx, sy, sz = sq[:, 0, :, None, None], sq[:, 1, None, :, None], sq[:, 2, None, None]
  shapes = jnp.stack([ix & iy & iz, ix & (sy + sz <= 1), iy & (sx + sz <= 1),
                      iz & (sx + sy <= 1)])  # (4, P, G, G, G)
  member = jnp.take_along_axis(
      shapes, jnp.clip(kind.astype(jnp.int32) - 1, 0, 3)[None, :, None, None, None], axis=0)[0]
  member = member & (kind > 0)[:, None, None, None]
  filled = jnp.any(member & ~carve[:, None, None, None], axis=0)
  return filled & ~jnp.any(member & carve[:, None, None, None], axis=0)


@functools.partial(jax.jit, static_argnames=("n", "class_ids", "grid"))
def _generate(key, n: int, class_ids: tuple, grid: int):
  label_key, shape_key = jax.random.split(key)
  ids = jnp.asarray(class_ids, jnp.int32)
  labels = ids[jax.random.permutation(label_key, jnp.arange(n) % len(class_ids))]
  uniforms = jax.random.uniform(shape_key, (n, _DRAWS))
  rows = jnp.stack([jax.vmap(functools.partial(_primitives, builder=_BUILDERS[c]))(uniforms)
                    for c in class_ids])  # (C, n, P, 8)
  slot = jnp.argmax(labels[:, None] == ids[None, :], axis=1)
  chosen = rows[slot, jnp.arange(n)]
  # Fewer samples at once on larger grids, so that a batch takes about as much memory as at 30^3.
  batch = max(1, min(n, _VOXEL_BATCH * 30 ** 3 // grid ** 3))
  voxels = jax.lax.map(functools.partial(voxelise, grid=grid), chosen, batch_size=batch)
  return voxels.astype(jnp.uint8), labels


def procedural_objects(key: jax.Array, n: int, classes=None, grid: int = 30) -> dict:
  """``n`` random objects of the ten ModelNet10 classes, voxelised like the real data.

  key: a jax.random key; the output is a deterministic function of (key, n, classes, grid).
  classes: None (all of OBJECT_CLASSES), or a class name, or a sequence of names. Labels cycle
    through the requested classes in a random order, so every class appears once n >= their
    number.
  n: objects, 1 <= n <= MAX_OBJECTS, with n * grid^3 <= MAX_VOXELS.
  grid: voxels per side, 12 <= grid <= MAX_GRID; the object lies in [3, grid - 4] on every axis.

  Returns dict:
    voxels: (n, grid, grid, grid) uint8 in {0, 1}, axis 2 vertical.
    labels: (n,) int32 indices into OBJECT_CLASSES.
  """
  n = check_positive_int("n", n, maximum=MAX_OBJECTS,
                         hint="each object draws the primitives of every class, 3840 bytes")
  grid = check_positive_int("grid", grid, minimum=12, maximum=MAX_GRID,
                            hint="voxelising one object takes about 110 * grid^3 bytes, "
                                 "2 GB at 256")
  if n * grid ** 3 > MAX_VOXELS:
    raise ValueError(f"n: expected n * grid^3 <= 2**33 voxels (8 GiB of output), got n={n} "
                     f"with grid={grid} ({n * grid ** 3} voxels); ask for fewer objects per "
                     f"call")
  if classes is None:
    classes = OBJECT_CLASSES
  elif isinstance(classes, str):
    classes = (classes,)
  for name in classes:
    check_choice("classes", name, OBJECT_CLASSES)
  class_ids = tuple(sorted({OBJECT_CLASSES.index(name) for name in classes}))
  voxels, labels = _generate(key, n, class_ids, grid)
  return dict(voxels=voxels, labels=labels)
