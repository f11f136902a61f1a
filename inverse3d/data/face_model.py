"""Linear morphable face models: the project's procedural statistical face, and sampling.

A :class:`FaceModel` is a pytree of arrays. A face is drawn with alpha ~ N(0, I)::

    shape  = mean + sum_k alpha_k basis[k]                      (V, 3)
    albedo = clip(albedo_mean + sum_k beta_k albedo_basis[k])   (V, 3), in [0, 1]

(the ICT-FaceKit convention: the modes carry their standard deviation). Axes: +x to the
subject's left, +y up, +z out of the face towards a frontal viewer; triangles are wound
counter-clockwise seen from the front, so mean-face normals point to +z.

:func:`procedural_face_model` builds the project's own face with nothing downloaded: a height
field over an egg-shaped grid in x, y (centimetres, the scale of the ICT model in shared/data)
made of smooth bumps for the forehead, brows, eye sockets, nose, cheeks, lips and chin.
Its identity modes are global proportion changes, feature-local deformations and smooth random
fields, orthonormalised in that order and given decreasing standard deviations.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_positive_int, check_shape

SKIN_RGB = (0.78, 0.58, 0.47)
"""Albedo of plain skin, also the uniform albedo of models that have no colour model."""
MAX_VERTICES = 200_000
"""Largest procedural mesh: about 4x the Basel Face Model's 54,903 vertices."""
MAX_MODES = 400
"""Most identity or colour modes of a procedural model (the BFM has 199): the float64 modes
take 24 * modes * V bytes while they are built, 1.9 GB at 400 modes and MAX_VERTICES."""
MAX_SAMPLE_VALUES = 2 ** 30
"""Most values n * V * 3 in one array of ``sample_faces`` (4 GiB of float32)."""

# Outline of the procedural face (cm): inside where (x / a(y))^2 + ((y - Y_CENTER) / B)^2 <= 1,
# with half-width a(y) = A0 + A1 tanh(y / 4): wide forehead, narrow chin.
_Y_CENTER, _OUTLINE_B, _OUTLINE_A0, _OUTLINE_A1 = 0.25, 9.75, 7.0, 0.8
# Base surface: ellipsoid z = DEPTH sqrt(1 - (x / RX)^2 - ((y - Y_CENTER) / RY)^2), falling
# back under the chin (below y = _CHIN_BOTTOM).
_BASE_DEPTH, _BASE_RX, _BASE_RY, _CHIN_BOTTOM = 9.0, 7.9, 16.0, -7.4

# Bumps added to the base height: (amplitude, cx, cy, sx, sy) in cm. cx > 0 means a mirrored
# pair at +-cx (evaluated on |x|), cx = 0 a central feature.
_HEIGHT_BUMPS = (
    (0.5, 0.0, 7.0, 4.0, 2.5),     # forehead
    (0.6, 3.0, 5.1, 1.9, 0.6),     # brow ridges
    (-1.4, 3.15, 3.3, 1.3, 0.85),  # eye sockets
    (0.6, 3.15, 3.3, 0.75, 0.4),   # eyeballs
    (0.9, 1.15, -0.55, 0.5, 0.45),  # nostril wings
    (0.7, 3.8, -0.6, 1.6, 1.5),    # cheeks
    (0.4, 4.6, 1.7, 1.2, 0.8),     # cheekbones
    (0.7, 0.0, -3.2, 2.4, 1.6),    # mouth region
    (0.45, 0.0, -2.6, 1.3, 0.35),  # upper lip
    (-0.3, 0.0, -3.3, 1.1, 0.16),  # mouth line
    (0.5, 0.0, -4.0, 1.2, 0.4),    # lower lip
    (-0.4, 0.0, -5.2, 1.6, 0.35),  # groove under the lower lip
    (1.0, 0.0, -6.4, 1.6, 1.0),    # chin
    (-0.5, 6.0, 4.0, 1.2, 1.6),    # temples
)
# Nose: a ridge from the bridge (y = _NOSE_TOP) down to the tip (y = _NOSE_TIP).
_NOSE_TOP, _NOSE_TIP = 4.0, 0.4


def _bump(x, y, cx, cy, sx, sy):
  """Gaussian bump; mirrored about x = 0 when cx > 0."""
  x = np.abs(x) if cx > 0 else x
  return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _softplus(t):
  return np.logaddexp(0.0, t)


def _nose(x, y):
  """Nose height: a ridge rising from the bridge to the tip, widening on the way."""
  s = np.clip((_NOSE_TOP - y) / (_NOSE_TOP - _NOSE_TIP), 0.0, 1.0)
  profile = 0.6 + 1.8 * s
  profile = np.where(y > _NOSE_TOP, 0.6 * np.exp(-0.5 * ((y - _NOSE_TOP) / 0.8) ** 2), profile)
  profile = np.where(y < _NOSE_TIP, 2.4 * np.exp(-0.5 * ((y - _NOSE_TIP) / 0.55) ** 2), profile)
  width = 0.5 + 0.5 * s
  return profile * np.exp(-0.5 * (x / width) ** 2)


def _half_width(y):
  return _OUTLINE_A0 + _OUTLINE_A1 * np.tanh(y / 4.0)


def _inside(x, y):
  return (x / _half_width(y)) ** 2 + ((y - _Y_CENTER) / _OUTLINE_B) ** 2 <= 1.0


def _height(x, y):
  """Mean-face depth z(x, y) in cm, float64."""
  r2 = (x / _BASE_RX) ** 2 + ((y - _Y_CENTER) / _BASE_RY) ** 2
  z = _BASE_DEPTH * np.sqrt(np.clip(1.0 - r2, 0.02, 1.0)) + _nose(x, y)
  z = z - 1.1 * _softplus((_CHIN_BOTTOM - y) / 0.6)
  for amplitude, *where in _HEIGHT_BUMPS:
    z = z + amplitude * _bump(x, y, *where)
  return z


def _grid_mesh(num_vertices: int):
  """Grid points inside the face outline, about ``num_vertices`` of them, and their triangles.

  Returns x, y (V,) float64 and triangles (T, 3) int32, counter-clockwise in the x-y plane and
  mirror-symmetric about x = 0 (the quad diagonal flips sign with x).
  """
  ys = np.linspace(_Y_CENTER - _OUTLINE_B, _Y_CENTER + _OUTLINE_B, 401)
  xs = np.linspace(-_OUTLINE_A0 - _OUTLINE_A1, _OUTLINE_A0 + _OUTLINE_A1, 401)
  gx, gy = np.meshgrid(xs, ys)
  area = _inside(gx, gy).mean() * (xs[-1] - xs[0]) * (ys[-1] - ys[0])
  step = np.sqrt(area / num_vertices)
  half_x = int(np.ceil((_OUTLINE_A0 + _OUTLINE_A1) / step))
  ny = int(np.ceil(2 * _OUTLINE_B / step)) + 1
  x = step * np.arange(-half_x, half_x + 1)
  y = _Y_CENTER - _OUTLINE_B + step * np.arange(ny)
  gx, gy = np.meshgrid(x, y)  # (ny, nx): rows go up in y, columns right in x
  index = np.where(_inside(gx, gy), 0, -1)
  index[index == 0] = np.arange(np.count_nonzero(index == 0))
  a, b = index[:-1, :-1], index[:-1, 1:]   # lower-left, lower-right corners of each quad
  d, c = index[1:, :-1], index[1:, 1:]     # upper-left, upper-right
  right = ((gx[:-1, :-1] + 0.5 * step) >= 0)[..., None]
  first = np.where(right, np.stack([a, b, c], -1), np.stack([a, b, d], -1)).reshape(-1, 3)
  second = np.where(right, np.stack([a, c, d], -1), np.stack([b, c, d], -1)).reshape(-1, 3)
  triangles = np.concatenate([first, second])
  triangles = triangles[np.all(triangles >= 0, axis=1)]
  used = np.zeros(index.max() + 1, bool)
  used[triangles] = True
  remap = np.cumsum(used) - 1
  return gx[index >= 0][used], gy[index >= 0][used], remap[triangles].astype(np.int32)


def _orthonormal_modes(fields: np.ndarray, rms: np.ndarray) -> np.ndarray:
  """Gram-Schmidt (QR) of ``fields`` (M, V, C) in order, scaled to per-coordinate RMS ``rms``.

  Mode k of the result has norm rms[k] * sqrt(V * C), is orthogonal to the others, and points
  the same way as fields[k] projected off the earlier ones.
  """
  if not len(fields):
    return fields
  q, r = np.linalg.qr(fields.reshape(len(fields), -1).T)
  q = q * np.sign(np.diag(r))
  scale = rms * np.sqrt(q.shape[0])
  return (q * scale).T.reshape(fields.shape)


def _random_fields(rng: np.random.Generator, x, y, count: int, channels: int, first: int):
  """``count`` smooth random fields (count, V, channels): sums of 4 plane waves in random
  directions whose wavelength shrinks with the field's index (starting at ``first``) from
  16 cm to 3 cm."""
  fields = np.zeros((count, x.size, channels))
  for j in range(count):
    wavelength = max(16.0 / (1.0 + 0.06 * (first + j)), 3.0)
    angle = rng.uniform(0.0, 2 * np.pi, size=4)
    freq = np.stack([np.cos(angle), np.sin(angle)], -1) / wavelength
    phase = rng.uniform(0.0, 2 * np.pi, size=4)
    direction = rng.normal(size=(4, channels))
    waves = np.cos(2 * np.pi * (np.outer(x, freq[:, 0]) + np.outer(y, freq[:, 1])) + phase)
    fields[j] = waves @ direction
  return fields


def _identity_fields(x, y, z):
  """Named shape deformations (M, V, 3), most global first."""
  zero = np.zeros_like(x)
  side = np.sign(x)

  def vec(dx=zero, dy=zero, dz=zero):
    return np.stack([dx + zero, dy + zero, dz + zero], -1)

  def bump(*where):
    return _bump(x, y, *where)

  cheek, cheekbone = bump(3.8, -0.6, 1.7, 1.6), bump(4.6, 1.7, 1.1, 0.8)
  return np.stack([
      vec(dx=x),                                                  # face width
      vec(dy=y),                                                  # face height
      vec(dz=z - z.mean()),                                       # face depth
      vec(dx=x / (1.0 + np.exp((y + 2.0) / 2.0))),                # jaw width
      vec(dy=1.5 * _softplus((y - 3.0) / 1.5)),                   # forehead height
      vec(dz=_nose(x, y)),                                        # nose protrusion
      vec(dx=x * bump(0.0, 0.5, 1.5, 2.0)),                       # nose width
      vec(dy=-bump(0.0, 1.0, 1.6, 2.0)),                          # nose length
      vec(dz=bump(0.0, -6.4, 1.8, 1.3)),                          # chin protrusion
      vec(dy=-1.2 * _softplus(-(y + 5.0) / 1.2)),                 # chin length
      vec(dx=0.5 * side * cheek, dz=cheek),                       # cheek fullness
      vec(dx=0.5 * side * cheekbone, dz=cheekbone),               # cheekbones
      vec(dz=bump(3.0, 5.1, 1.7, 0.7)),                           # brow ridge
      vec(dz=-bump(3.15, 3.3, 1.2, 0.8)),                         # eye depth
      vec(dx=side * bump(3.15, 3.3, 1.5, 1.2)),                   # eye spacing
      vec(dz=bump(0.0, -2.5, 1.6, 0.5) + bump(0.0, -4.1, 1.5, 0.5)),  # lip fullness
      vec(dx=x * bump(0.0, -3.3, 2.2, 0.9)),                      # mouth width
      vec(dy=bump(0.0, -3.3, 2.5, 1.3)),                          # mouth height
      vec(dz=-_softplus((y - 5.0) / 2.0)),                        # forehead slope
      vec(dz=bump(0.0, 3.0, 0.8, 1.2)),                           # nose bridge
  ])


def _albedo(x, y):
  """Mean albedo (V, 3) and named colour variations (M, V, 3)."""
  skin = np.broadcast_to(np.asarray(SKIN_RGB), (x.size, 3))
  brows = np.clip(1.4 * _bump(x, y, 3.0, 5.55, 1.4, 0.3), 0, 1)[:, None]
  lips = np.clip(1.3 * (_bump(x, y, 0.0, -2.75, 1.5, 0.3) + _bump(x, y, 0.0, -3.8, 1.4, 0.35)),
                 0, 1)[:, None]
  blush = 0.35 * _bump(x, y, 3.6, -0.5, 1.5, 1.2)[:, None]
  sclera = np.clip(1.5 * _bump(x, y, 3.15, 3.3, 0.75, 0.28), 0, 1)[:, None]
  iris = np.clip(1.5 * _bump(x, y, 3.15, 3.3, 0.25, 0.25), 0, 1)[:, None]
  mean = skin
  for mask, rgb in ((blush, (0.86, 0.5, 0.45)), (brows, (0.28, 0.2, 0.15)),
                    (lips, (0.7, 0.36, 0.36)), (sclera, (0.92, 0.9, 0.88)),
                    (iris, (0.3, 0.2, 0.14))):
    mean = (1 - mask) * mean + mask * np.asarray(rgb)
  plain = 1.0 - np.maximum.reduce([brows, lips, sclera])
  variations = np.stack([
      mean,                                              # overall brightness
      plain * np.asarray([1.0, -0.3, -0.5]),             # redness
      plain * np.asarray([0.5, 0.5, -1.0]),              # yellowness
      -brows * np.ones(3),                               # brow darkness
      lips * np.asarray([1.0, -0.5, -0.5]),              # lip colour
      blush * np.asarray([1.0, -0.3, -0.3]),             # blush
      iris * np.asarray([-0.5, 0.3, 1.0]),               # iris colour
  ])
  return mean, variations


class FaceModel(NamedTuple):
  """A linear morphable face model (a pytree).

  mean: (V, 3) float32 mean shape. basis: (K, V, 3) float32 identity modes, each scaled by its
  standard deviation. albedo_mean: (V, 3) float32 in [0, 1]. albedo_basis: (Ka, V, 3) float32
  colour modes, scaled likewise (Ka may be 0). triangles: (T, 3) int32, counter-clockwise
  seen from the front.
  """
  mean: jax.Array
  basis: jax.Array
  albedo_mean: jax.Array
  albedo_basis: jax.Array
  triangles: jax.Array


def _decreasing_rms(count: int, first: float, decay: float) -> np.ndarray:
  return first * (1.0 + np.arange(count)) ** (-decay)


@functools.lru_cache(maxsize=8)
def procedural_face_model(num_vertices: int = 4000, num_modes: int = 40,
                          num_albedo_modes: int = 10, seed: int = 0) -> FaceModel:
  """The project's statistical face model, deterministic in its arguments.

  Args:
    num_vertices: approximate vertex count, in [100, MAX_VERTICES] (the paper's BFM has
      54,903). The exact V is ``mean.shape[0]`` (4,017 for the default 4,000).
    num_modes: K identity modes, at most MAX_MODES: 20 named deformations (face width, height, depth, jaw,
      forehead, nose, chin, cheeks, brows, eyes, lips, mouth...) then smooth random fields;
      orthogonal, with per-coordinate standard deviation 0.2 cm * (k + 1)^-0.9.
    num_albedo_modes: Ka colour modes, in [0, MAX_MODES]: brightness, redness, yellowness, brows, lips,
      blush, iris, then smooth random fields; per-channel std 0.05 * (k + 1)^-0.7.
    seed: seeds the random fields only.

  Returns:
    FaceModel with mean (V, 3) in cm (about 14.3 x 19.4 x 8.3), basis (K, V, 3), albedo_mean
    (V, 3), albedo_basis (Ka, V, 3), triangles (T, 3).
  """
  num_vertices = check_positive_int("num_vertices", num_vertices, minimum=100,
                                    maximum=MAX_VERTICES,
                                    hint="about 4x the Basel Face Model's 54,903 vertices")
  modes_hint = "the modes take 24 * modes * num_vertices bytes while they are built"
  num_modes = check_positive_int("num_modes", num_modes, maximum=MAX_MODES, hint=modes_hint)
  num_albedo_modes = check_positive_int("num_albedo_modes", num_albedo_modes, minimum=0,
                                        maximum=MAX_MODES, hint=modes_hint)
  seed = check_positive_int("seed", seed, minimum=0)
  x, y, triangles = _grid_mesh(num_vertices)
  if num_modes > 3 * x.size or num_albedo_modes > 3 * x.size:
    raise ValueError(f"num_modes, num_albedo_modes: expected at most 3V = {3 * x.size} for "
                     f"num_vertices={num_vertices}, got {num_modes}, {num_albedo_modes}")
  z = _height(x, y)
  mean = np.stack([x, y, z], -1)

  named = _identity_fields(x, y, z)[:num_modes]
  extra = _random_fields(np.random.default_rng([seed, 0]), x, y, num_modes - len(named), 3,
                         first=len(named))
  basis = _orthonormal_modes(np.concatenate([named, extra]),
                             _decreasing_rms(num_modes, 0.2, 0.9))

  albedo_mean, colour = _albedo(x, y)
  colour = colour[:num_albedo_modes]
  extra = _random_fields(np.random.default_rng([seed, 1]), x, y,
                         num_albedo_modes - len(colour), 3, first=len(colour))
  albedo_basis = _orthonormal_modes(np.concatenate([colour, extra]),
                                    _decreasing_rms(num_albedo_modes, 0.05, 0.7))
  return FaceModel(mean=jnp.asarray(mean, jnp.float32), basis=jnp.asarray(basis, jnp.float32),
                   albedo_mean=jnp.asarray(albedo_mean, jnp.float32),
                   albedo_basis=jnp.asarray(albedo_basis, jnp.float32),
                   triangles=jnp.asarray(triangles, jnp.int32))


def minmax_normalize(points: jax.Array) -> jax.Array:
  """Scales each point cloud to [0, 1] per axis (min-max per sample and axis, as in the paper).

  points: (..., V, 3) -> (..., V, 3). An axis with no extent maps to 0.
  """
  low = jnp.min(points, axis=-2, keepdims=True)
  extent = jnp.max(points, axis=-2, keepdims=True) - low
  return (points - low) / jnp.where(extent > 0, extent, 1.0)


def check_face_model(name: str, model: FaceModel) -> None:
  """Raises ValueError naming ``name.field`` if the model's arrays do not fit together."""
  bound = check_shape(f"{name}.mean", model.mean, ("V", 3))
  v = bound["V"]
  check_shape(f"{name}.basis", model.basis, (None, v, 3))
  check_shape(f"{name}.albedo_mean", model.albedo_mean, (v, 3))
  check_shape(f"{name}.albedo_basis", model.albedo_basis, (None, v, 3))
  check_shape(f"{name}.triangles", model.triangles, (None, 3))


def sample_faces(key: jax.Array, model: FaceModel, n: int, normalize: bool = True) -> dict:
  """Draws ``n`` faces from ``model`` with alpha, beta ~ N(0, I). jit-able with static n.

  Returns dict:
    points: (n, V, 3) float32; with ``normalize`` each face is min-max scaled to [0, 1] per
      axis, else in model units.
    albedo: (n, V, 3) float32 in [0, 1] (clipped).
    coefficients: (n, K) float32 shape coefficients alpha.
    albedo_coefficients: (n, Ka) float32 colour coefficients beta.
  """
  n = check_positive_int("n", n)
  check_face_model("model", model)
  values = n * model.mean.shape[0] * 3
  if values > MAX_SAMPLE_VALUES:
    raise ValueError(f"n: expected n * V * 3 <= 2**30 values per array (4 GiB of float32), got "
                     f"n={n} with V={model.mean.shape[0]} ({values}); draw fewer faces per call")
  shape_key, albedo_key = jax.random.split(key)
  alpha = jax.random.normal(shape_key, (n, model.basis.shape[0]), jnp.float32)
  beta = jax.random.normal(albedo_key, (n, model.albedo_basis.shape[0]), jnp.float32)
  highest = jax.lax.Precision.HIGHEST
  points = model.mean + jnp.einsum("nk,kvc->nvc", alpha, model.basis, precision=highest)
  albedo = model.albedo_mean + jnp.einsum("nk,kvc->nvc", beta, model.albedo_basis,
                                          precision=highest)
  return dict(points=minmax_normalize(points) if normalize else points,
              albedo=jnp.clip(albedo, 0.0, 1.0), coefficients=alpha,
              albedo_coefficients=beta)


def procedural_faces(key: jax.Array, n: int, num_vertices: int = 4000,
                     num_modes: int = 40) -> dict:
  """``n`` faces from :func:`procedural_face_model` (10 albedo modes, seed 0).

  Returns the dict of :func:`sample_faces` (points normalised to [0, 1] per axis) plus
  triangles (T, 3) int32.
  """
  model = procedural_face_model(num_vertices, num_modes)
  return dict(sample_faces(key, model, n), triangles=model.triangles)
