"""Random GAN parameters and drawn images for tests that need a generator but not a trained one
(test_gan_inversion, test_gan2shape_stages)."""
import jax
import numpy as np


def random_params(shapes, rng, lr_mul: float = 1.0):
  """NumPy values for a pytree of ShapeDtypeStructs, as the GAN's initialisers draw them:
  biases 0 (a modulation's 1), noise strengths and w_avg 0, every other leaf standard normal
  (the mapping network's weights divided by its ``lr_mul``)."""
  def draw(path, leaf):
    names = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
    if names[-1] == "bias":
      return np.full(leaf.shape, 1.0 if names[-2] == "modulation" else 0.0, np.float32)
    if names[-1] in ("noise_strength", "w_avg"):
      return np.zeros(leaf.shape, np.float32)
    x = rng.standard_normal(leaf.shape).astype(np.float32)
    return x / lr_mul if names[0] == "mapping" else x
  return jax.tree_util.tree_map_with_path(draw, shapes)


def drawings(n, size, rng, with_masks: bool = False):
  """n images (n, size, size, 3) in [-1, 1] no generator made: a flat ellipse ("face") with two
  dark eyes on a vertical colour gradient, colours and placement random; ``with_masks`` also
  returns the ellipses (n, size, size) as {0, 1} floats."""
  y, x = np.mgrid[0:size, 0:size] / (size - 1) * 2.0 - 1.0
  images, masks = [], []
  for _ in range(n):
    cx, cy = rng.uniform(-0.2, 0.2, 2)
    rx, ry = rng.uniform(0.4, 0.6), rng.uniform(0.55, 0.8)
    top, bottom, skin = rng.uniform(-0.9, 0.9, (3, 3))
    image = top + (y[..., None] + 1.0) / 2.0 * (bottom - top)
    inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1.0
    image[inside] = skin
    for side in (-0.4, 0.4):
      image[(x - cx - side * rx) ** 2 + (y - cy + 0.3 * ry) ** 2 < 0.15 ** 2] = -0.9
    images.append(image)
    masks.append(inside)
  images = np.clip(np.stack(images), -1.0, 1.0).astype(np.float32)
  return (images, np.stack(masks).astype(np.float32)) if with_masks else images
