"""Generator files: one .npz of the generator dict's arrays under "/"-joined keys.

    save_generator(path, generator)          # atomic: a complete file or none
    generator = load_generator(path)         # the dict that inverse3d.gan functions take
    save_tree(path, discriminator_params)    # any nested dict of arrays (discriminator,
    load_discriminator(path, generator)      #   latent encoder), the same way

Keys: ``mapping/style_1/weight``, ..., ``synthesis/conv1/conv/weight``, ...,
``noise/0``, ..., ``w_avg``. A converted published checkpoint (``inverse3d.gan.convert``) saves
the same way.
"""
from __future__ import annotations

import io
import os

import numpy as np

from inverse3d.checks import check_file
from inverse3d.files import atomic_write
from inverse3d.gan.generator import spec_of
from inverse3d.gan.inversion import check_discriminator


def flatten(tree: dict, prefix: str = "") -> dict:
  """Nested dicts (and tuples, keyed by index) -> {"a/b/c": array}."""
  out = {}
  items = tree.items() if isinstance(tree, dict) else enumerate(tree)
  for key, value in items:
    name = f"{prefix}{key}"
    if isinstance(value, (dict, list, tuple)):
      out.update(flatten(value, name + "/"))
    else:
      out[name] = np.asarray(value)
  return out


def unflatten(flat: dict) -> dict:
  """{"a/b/c": array} -> nested dicts; the "noise" entries as a tuple in index order."""
  tree: dict = {}
  for name, value in flat.items():
    *parents, leaf = name.split("/")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  if "noise" in tree:
    tree["noise"] = tuple(tree["noise"][str(i)] for i in range(len(tree["noise"])))
  return tree


def save_tree(path, tree: dict) -> str:
  """Writes a nested dict of arrays to ``path`` (.npz, "/"-joined keys), atomically."""
  buffer = io.BytesIO()
  np.savez(buffer, **flatten(tree))
  with atomic_write(path, "wb") as f:
    f.write(buffer.getvalue())
  return os.fspath(path)


def load_tree(path, what: str = "an .npz written by inverse3d.gan.export.save_tree") -> dict:
  """The nested dict of NumPy arrays :func:`save_tree` wrote to ``path``."""
  path = check_file("path", path, what)
  with np.load(path) as f:
    return unflatten({k: f[k] for k in f.files})


def save_generator(path, generator: dict) -> str:
  """Writes ``generator`` (checked to be a complete generator dict) to ``path`` (.npz)."""
  spec = spec_of(generator)
  if len(generator.get("noise", ())) != len(spec.noise_shapes) or "w_avg" not in generator:
    raise ValueError(f"generator: expected {len(spec.noise_shapes)} noise inputs and a w_avg, "
                     f"got keys {sorted(generator)}")
  return save_tree(path, generator)


def load_generator(path) -> dict:
  """The generator dict saved at ``path`` by :func:`save_generator`, as NumPy arrays.

  Raises ValueError when the file is not a generator of this layout (naming what is missing).
  """
  generator = load_tree(path, "a generator .npz written by inverse3d.gan.save_generator")
  try:
    spec = spec_of(generator)
  except ValueError as e:
    raise ValueError(f"{path}: not a generator file ({e})") from None
  noise = generator.get("noise", ())
  shapes = tuple(np.shape(n) for n in noise)
  if shapes != spec.noise_shapes or "w_avg" not in generator:
    raise ValueError(f"{path}: expected noise inputs of shapes {spec.noise_shapes} and a w_avg "
                     f"for a {spec.resolution}x{spec.resolution} generator, got {shapes}")
  return generator


def load_discriminator(path, generator: dict) -> dict:
  """The discriminator params saved at ``path`` (:func:`save_tree`), checked to be the
  discriminator of ``generator``'s architecture (ValueError naming the first mismatch)."""
  params = load_tree(path, "a discriminator .npz written by inverse3d.gan.export.save_tree")
  check_discriminator(generator, params)
  return params
