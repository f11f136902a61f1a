"""Generator files: one .npz of the generator dict's arrays under "/"-joined keys.

    save_generator(path, generator)          # atomic: a complete file or none
    generator = load_generator(path)         # the dict that inverse3d.gan functions take

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


def save_generator(path, generator: dict) -> str:
  """Writes ``generator`` (checked to be a complete generator dict) to ``path`` (.npz)."""
  spec = spec_of(generator)
  if len(generator.get("noise", ())) != len(spec.noise_shapes) or "w_avg" not in generator:
    raise ValueError(f"generator: expected {len(spec.noise_shapes)} noise inputs and a w_avg, "
                     f"got keys {sorted(generator)}")
  buffer = io.BytesIO()
  np.savez(buffer, **flatten(generator))
  with atomic_write(path, "wb") as f:
    f.write(buffer.getvalue())
  return os.fspath(path)


def load_generator(path) -> dict:
  """The generator dict saved at ``path`` by :func:`save_generator`, as NumPy arrays.

  Raises ValueError when the file is not a generator of this layout (naming what is missing).
  """
  path = check_file("path", path, "a generator .npz written by inverse3d.gan.save_generator")
  with np.load(path) as f:
    generator = unflatten({k: f[k] for k in f.files})
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
