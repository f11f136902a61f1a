"""Colour images of faces at random poses and lights, with their ground truth (GAN2Shape data).

Each face is drawn from a morphable model (the procedural one by default, or a real one such
as the ICT model), rasterised frontally into a canonical depth map and albedo map (the
photo-geometric factors of Unsup3d, ``canonical_face_maps``), shaded under a random light
(``render.shade`` on ``render.depth_to_normals``; the light is fixed to the face, as Unsup3d's
canonical light), turned to a random view by ``render.render_view`` and composited over a random
background: a smooth two-colour gradient plus low-frequency noise, one of whose colours is near
the face's own mean colour, so no single threshold separates face from background.

Ground truth per image: the depth in the image's own view (``render.DEPTH_RANGE``, the far value
on the background), the foreground mask, the view and the light. Train and test splits differ by
key: ``face_image_splits(seed, ...)`` draws the train split from ``split(key(seed), 2)[0]`` and
the test split from ``[1]`` (what the ``procedural_face_images`` TFDS builder stores).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from inverse3d.checks import check_open_range, check_positive_int
from inverse3d.data.face_model import FaceModel, check_face_model, procedural_face_model
from inverse3d.data.face_model import sample_faces
from inverse3d.render.camera import DEPTH_RANGE, FOV_DEG, ROTATION_CENTRE_DEPTH
from inverse3d.render.mesh import render_mesh
from inverse3d.render.normals import depth_to_normals
from inverse3d.render.shading import shade
from inverse3d.render.warp import render_view

MIN_SIZE, MAX_SIZE = 16, 512
"""Image sizes ``procedural_face_images`` accepts (square images)."""
FACE_FILL = 0.75
"""Default face height as a fraction of the image height (turned faces stay inside)."""
NOISE_WAVES = 4
"""The background noise sums NOISE_WAVES x NOISE_WAVES cosine waves (low frequencies only)."""
DEFAULT_RANGES = dict(yaw_deg=(-40.0, 40.0), pitch_deg=(-20.0, 20.0), roll_deg=(-10.0, 10.0),
                      ambient=(0.2, 0.5), diffuse=(0.4, 0.8), light_dx=(-0.9, 0.9),
                      light_dy=(-0.3, 0.8))
"""Uniform sampling ranges (low, high) of the pose (degrees) and of the light."""
# Limits of each range: angles within a half turn, light strengths non-negative.
_RANGE_LIMITS = dict(yaw_deg=(-180, 180), pitch_deg=(-90, 90), roll_deg=(-180, 180),
                     ambient=(0, 2), diffuse=(0, 2), light_dx=(-10, 10), light_dy=(-10, 10))


def place_face(points, fov_deg: float, fill: float):
  """Model points (V, 3) (+y up, +z towards the viewer, any unit) -> viewer-frame points.

  The face is scaled so its height is ``fill`` of the image height, centred on the optical
  axis, with the middle of its depth extent at the rotation centre (depth 1). vmap-able.
  """
  low, high = jnp.min(points, 0), jnp.max(points, 0)
  scale = fill * 2 * np.tan(np.deg2rad(fov_deg) / 2) * ROTATION_CENTRE_DEPTH / (high - low)[1]
  centred = (points - (low + high) / 2) * scale
  return centred - jnp.array([0.0, 0.0, ROTATION_CENTRE_DEPTH])


def canonical_face_maps(points, albedo, triangles, size: int, fov_deg: float = FOV_DEG,
                        fill: float = FACE_FILL):
  """Rasterises face meshes frontally to canonical (depth, albedo, mask), as NumPy arrays.

  Args:
    points: (B, V, 3) model points (+y up, +z towards the viewer), placed by ``place_face``.
    albedo: (B, V, 3) per-vertex colour in [0, 1].
    triangles: (T, 3) int vertex indices.
  Returns:
    depth (B, H, W) float32, albedo (B, H, W, 3) float32 in [0, 1], mask (B, H, W) bool.
    Outside the face each pixel takes the depth of the nearest face pixel (so that turning the
    depth map does not stretch sheets from the face's rim to a background) and the albedo 0.
  """
  vertices = jax.vmap(place_face, (0, None, None))(jnp.asarray(points), fov_deg, fill)
  image, depth, mask = render_mesh(vertices, triangles, jnp.asarray(albedo), size, size,
                                   fov_deg)
  mask = np.asarray(mask) > 0
  depth = np.array(depth, np.float32)
  for b in range(len(depth)):
    if mask[b].any():
      nearest = ndimage.distance_transform_edt(~mask[b], return_distances=False,
                                               return_indices=True)
      depth[b] = depth[b][tuple(nearest)]
  return depth, np.clip(np.asarray(image, np.float32), 0.0, 1.0), mask


def face_maps(points, albedo, triangles, size: int, fov_deg: float, fill: float):
  """One face: points (V, 3), albedo (V, 3) -> depth (H, W), albedo (H, W, 3), mask (H, W).

  ``canonical_face_maps`` on a batch of one (see there).
  """
  depth, image, mask = canonical_face_maps(jnp.asarray(points)[None], jnp.asarray(albedo)[None],
                                           triangles, size, fov_deg, fill)
  return depth[0], image[0], mask[0]


def _check_ranges(ranges: dict) -> dict:
  """Each range a finite (low, high) with low <= high inside its limits (low == high fixes the
  value); returns pairs of floats."""
  out = {}
  for name, pair in ranges.items():
    low, high = _RANGE_LIMITS[name]
    pair = tuple(pair) if isinstance(pair, (list, tuple)) else pair
    try:
      a, b = (float(v) for v in pair)
    except (TypeError, ValueError):
      raise ValueError(f"{name}: expected a pair of numbers (low, high), got {pair!r:.80}")
    if not (math.isfinite(a) and math.isfinite(b) and low <= a <= b <= high):
      raise ValueError(f"{name}: expected finite (low, high) with low <= high in [{low}, "
                       f"{high}], got ({a}, {b})")
    out[name] = (a, b)
  return out


_FACTORS = ("pitch_deg", "yaw_deg", "roll_deg", "ambient", "diffuse", "light_dx", "light_dy")


def _sample_factors(key, ranges: tuple):
  """One sample's view (6,), light (4,), background colours and angle (7,) and noise weights.

  The view is [rx (pitch), ry (yaw), rz (roll) in radians, 0, 0, 0]: a positive yaw turns the
  nose to the image's right, a positive pitch lifts the chin, a positive roll turns the face
  counterclockwise. The light is [ambient, diffuse, dx, dy]. ``ranges`` is
  ``tuple(sorted(ranges.items()))`` (static). Two random calls in all (fast to compile).
  """
  ranges = dict(ranges)
  k_uniform, k_noise = jax.random.split(key)
  u = jax.random.uniform(k_uniform, (len(_FACTORS) + 7,), jnp.float32)
  low = jnp.array([ranges[name][0] for name in _FACTORS], jnp.float32)
  high = jnp.array([ranges[name][1] for name in _FACTORS], jnp.float32)
  factors = low + (high - low) * u[:len(_FACTORS)]
  view = jnp.concatenate([jnp.deg2rad(factors[:3]), jnp.zeros(3, jnp.float32)])
  noise = jax.random.normal(k_noise, (NOISE_WAVES, NOISE_WAVES, 3), jnp.float32)
  return view, factors[3:], u[len(_FACTORS):], noise


def _background(params, noise, face_colour, size: int):
  """One (size, size, 3) background in [0, 1] from uniforms ``params`` (7,), normal ``noise``
  (NOISE_WAVES, NOISE_WAVES, 3) and the face's mean colour (3,): a gradient, in a random
  direction, from a colour near the face's colour to a random colour, plus smooth noise
  (cosine waves of up to NOISE_WAVES - 1 half periods across the image)."""
  near = face_colour * (0.75 + 0.5 * params[:3])
  far = 0.05 + 0.9 * params[3:6]
  angle = 2 * math.pi * params[6]
  ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
  along = jnp.cos(angle) * ramp[None, :] + jnp.sin(angle) * ramp[:, None]  # (H, W)
  t = jnp.clip(0.5 + along / (2 * math.sqrt(2)), 0.0, 1.0)[..., None]
  waves = np.cos(np.pi * np.outer(np.arange(NOISE_WAVES), (ramp + 1) / 2)).astype(np.float32)
  weights = 0.04 * noise.at[0, 0].set(0.0)
  noise = jnp.einsum("ih,jw,ijc->hwc", waves, waves, weights)
  return jnp.clip(near * (1 - t) + far * t + noise, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("ranges",))
def _draw(keys, model: FaceModel, ranges: tuple):
  """Per-sample keys (C,) -> faces (points, albedo (C, V, 3)), views (C, 6), lights (C, 4)
  and the background's random numbers (C, 7), (C, NOISE_WAVES, NOISE_WAVES, 3)."""
  split = jax.vmap(jax.random.split)(keys)
  faces = jax.vmap(lambda k: sample_faces(k, model, 1, normalize=False))(split[:, 0])
  views, lights, params, noise = jax.vmap(lambda k: _sample_factors(k, ranges))(split[:, 1])
  return faces["points"][:, 0], faces["albedo"][:, 0], views, lights, (params, noise)


@jax.jit
def _render(depth, albedo, face_mask, views, lights, background):
  """Canonical maps (C, H, W[, 3]) -> shaded, turned and composited images and ground truth."""
  shaded = shade(depth_to_normals(depth), albedo, lights)
  weight = face_mask[..., None]
  carried = jnp.concatenate([shaded, weight], -1)
  rotated, new_depth, coverage = render_view(depth, carried, views)
  alpha = rotated[..., -1]
  mask = (coverage > 0.5) & (alpha > 0.5)
  # The face channel travelled with the colour (0 outside the face), so dividing by it undoes
  # the bilinear mixing with the black outside at the rim.
  colour = jnp.clip(rotated[..., :3] / jnp.maximum(alpha, 1e-3)[..., None], 0.0, 1.0)
  face_colour = (jnp.sum(jnp.clip(shaded, 0, 1) * weight, (1, 2))
                 / jnp.maximum(jnp.sum(weight, (1, 2)), 1.0))
  background = jax.vmap(functools.partial(_background, size=depth.shape[-1]))(*background,
                                                                              face_colour)
  images = jnp.where(mask[..., None], colour, background)
  depth = jnp.where(mask, jnp.clip(new_depth, *DEPTH_RANGE), DEPTH_RANGE[1])
  return images, depth, mask


def _chunk(keys, model: FaceModel, size: int, ranges: dict, fill: float) -> dict:
  """Renders the faces of one chunk of per-sample keys (C,) -> dict of (C, ...) arrays."""
  points, albedo, views, lights, background = _draw(keys, model, tuple(sorted(ranges.items())))
  depth, albedo, face_mask = canonical_face_maps(points, albedo, model.triangles, size, FOV_DEG,
                                                 fill)
  images, depth, mask = _render(depth, albedo, np.asarray(face_mask, np.float32), views, lights,
                                background)
  return dict(images=images, depth=depth, mask=mask, view=views, light=lights)


def procedural_face_images(key, n: int, size: int = 64, *, face_model: FaceModel | None = None,
                           yaw_deg=DEFAULT_RANGES["yaw_deg"],
                           pitch_deg=DEFAULT_RANGES["pitch_deg"],
                           roll_deg=DEFAULT_RANGES["roll_deg"],
                           ambient=DEFAULT_RANGES["ambient"],
                           diffuse=DEFAULT_RANGES["diffuse"],
                           light_dx=DEFAULT_RANGES["light_dx"],
                           light_dy=DEFAULT_RANGES["light_dy"],
                           face_fill: float = FACE_FILL, chunk: int = 64) -> dict:
  """Colour renders of random faces at random views and lights, with their ground truth.

  Deterministic from ``key``: sample i comes from ``split(key, n)[i]`` (the same whatever
  ``chunk``, up to float rounding).
  For train and test sets use different keys, e.g. ``face_image_splits``.

  Args:
    key: a jax.random key.
    n: number of images, >= 1.
    size: image height and width, in [MIN_SIZE, MAX_SIZE].
    face_model: the morphable model faces are drawn from (e.g. ``load_face_model(path)``);
      None for ``procedural_face_model()``.
    yaw_deg, pitch_deg, roll_deg: (low, high) uniform ranges of the view's turn about the
      vertical axis, the horizontal axis and the optical axis, in degrees.
    ambient, diffuse: (low, high) ranges of the light's strengths, >= 0.
    light_dx, light_dy: (low, high) ranges of the light direction normalise(dx, dy, 1), in the
      face's frame (dx > 0 lights the face from the image's right when frontal).
    face_fill: the frontal face's height as a fraction of the image height, in (0, 1).
    chunk: images rendered per batched call (bounds memory), >= 1.
  Returns dict:
    images: (n, size, size, 3) float32 in [0, 1].
    depth: (n, size, size) float32 depth in the image's own view, in ``render.DEPTH_RANGE``,
      ``DEPTH_RANGE[1]`` (far) on the background.
    mask: (n, size, size) bool, the face's pixels.
    view: (n, 6) float32 [rx (pitch), ry (yaw), rz (roll) in radians, 0, 0, 0], the layout and
      units of ``render.render_view``'s view.
    light: (n, 4) float32 [ambient, diffuse, dx, dy], as ``render.shade``'s light.
  """
  n = check_positive_int("n", n)
  size = check_positive_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
  chunk = check_positive_int("chunk", chunk)
  check_open_range("face_fill", face_fill, 0.0, 1.0)
  ranges = _check_ranges(dict(yaw_deg=yaw_deg, pitch_deg=pitch_deg, roll_deg=roll_deg,
                              ambient=ambient, diffuse=diffuse, light_dx=light_dx,
                              light_dy=light_dy))
  model = procedural_face_model() if face_model is None else face_model
  check_face_model("face_model", model)
  keys = jax.random.split(key, n)
  chunk = min(chunk, n)
  parts = []
  for start in range(0, n, chunk):
    part = keys[start:start + chunk]
    # The last chunk is padded to the chunk size, so every chunk runs the same compiled code.
    padded = jnp.concatenate([part, jnp.repeat(part[-1:], chunk - len(part), 0)])
    out = _chunk(padded, model, size, ranges, face_fill)
    parts.append({k: np.asarray(v)[:len(part)] for k, v in out.items()})
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def face_image_splits(seed: int, n_train: int, n_test: int, **options) -> dict:
  """Train and test sets of ``procedural_face_images`` separated by key.

  The train split is drawn from ``split(key(seed), 2)[0]``, the test split from ``[1]``, so the
  two never share a sample. ``options`` are passed to ``procedural_face_images``.
  Returns dict(train=..., test=...), each as ``procedural_face_images`` returns.
  """
  seed = check_positive_int("seed", seed, minimum=0)
  sizes = dict(train=check_positive_int("n_train", n_train),
               test=check_positive_int("n_test", n_test))
  keys = jax.random.split(jax.random.key(seed), 2)
  return {split: procedural_face_images(key, sizes[split], **options)
          for split, key in zip(("train", "test"), keys)}
