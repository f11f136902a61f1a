"""Record sources of the training input pipeline: random-access, ``len(source)`` and
``source[i] -> {name: array}``.

:class:`ArraySource` holds in-memory arrays (``ArraySource.from_source`` decodes any source into
memory once); :func:`tfds_source` opens the project's TFDS array_record builds as a
:class:`KeyedSource`; :func:`select_keys` keeps and renames features. :func:`read_rows` reads a
batch of records ``{name: (len(rows), ...) array}`` from any source at once (fancy indexing for
arrays, ``__getitems__`` for TFDS), as :class:`inverse3d.train.input.Batches` reads each step.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from inverse3d.checks import check_positive_int


def _describe(arrays: Mapping) -> str:
  return ", ".join(f"{k} {tuple(np.shape(v))[1:]} {np.asarray(v).dtype}"
                   for k, v in arrays.items())


class ArraySource:
  """Records of in-memory arrays: ``source[i] = {name: arrays[name][i]}`` (views, no copy).

  Args:
    arrays: ``{name: (N, ...) array}`` with a common leading size N >= 1.
  """

  def __init__(self, arrays: Mapping):
    if not isinstance(arrays, Mapping) or not arrays:
      raise ValueError(f"arrays: expected a non-empty dict of (N, ...) arrays, got {arrays!r:.80}")
    self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
    sizes = {k: v.shape[0] if v.ndim else None for k, v in self.arrays.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1 or not next(iter(sizes.values())):
      raise ValueError(f"arrays: expected arrays with a common leading size N >= 1, got sizes "
                       f"{sizes}")
    self.n = next(iter(sizes.values()))

  @classmethod
  def from_source(cls, source, keys: Mapping | Sequence[str] | None = None,
                  chunk: int = 256) -> ArraySource:
    """Every record of ``source`` (e.g. :func:`tfds_source`) decoded once into memory.

    Args:
      keys: as :func:`select_keys`; None keeps all features.
      chunk: records read per ``__getitems__`` call (TFDS reads a chunk in parallel).
    """
    source = select_keys(source, keys)
    n = len(source)
    chunk = check_positive_int("chunk", chunk)
    arrays = None
    for start in range(0, n, chunk):
      rows = np.arange(start, min(start + chunk, n))
      part = read_rows(source, rows)
      if arrays is None:
        arrays = {k: np.empty((n, *v.shape[1:]), v.dtype) for k, v in part.items()}
      for k, v in part.items():
        arrays[k][rows] = v
    return cls(arrays)

  def __len__(self) -> int:
    return self.n

  def __getitem__(self, index) -> dict:
    return {k: v[index] for k, v in self.arrays.items()}

  def read_rows(self, rows: np.ndarray) -> dict:
    """``{name: (len(rows), ...) array}`` of records ``rows`` (one fancy index per array)."""
    return {k: v[rows] for k, v in self.arrays.items()}

  def __repr__(self) -> str:  # grain compares it when restoring a state; it names no values
    return f"ArraySource({self.n} records: {_describe(self.arrays)})"


class KeyedSource:
  """Records of ``source`` with only some features, renamed: ``{name: record[feature]}``.

  Args:
    source: ``len(source)``, ``source[i] -> dict``; ``__getitems__(indices) -> [dict]`` (as
      TFDS sources have) is used to read a batch's records at once.
    keys: ``{name: feature}``, or a sequence of features kept under their own names.
    label: how the source is named in errors and in ``repr`` (grain compares reprs on restore).
  """

  def __init__(self, source, keys: Mapping | Sequence[str], label: str | None = None):
    self.source = source
    self.keys = _keys_mapping(keys)
    self.label = label if label is not None else repr(source)

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index) -> dict:
    record = self.source[index]
    return {name: record[feature] for name, feature in self.keys.items()}

  def read_rows(self, rows: np.ndarray) -> dict:
    """``{name: (len(rows), ...) array}`` of records ``rows``."""
    records = _read(self.source, rows)
    return {name: np.stack([r[feature] for r in records])
            for name, feature in self.keys.items()}

  def __repr__(self) -> str:
    return f"KeyedSource({self.label}, keys={self.keys})"


def _keys_mapping(keys) -> dict:
  if isinstance(keys, Mapping):
    out = dict(keys)
  elif isinstance(keys, Sequence) and not isinstance(keys, str):
    out = {k: k for k in keys}
  else:
    out = None
  if not out or not all(isinstance(k, str) and isinstance(v, str) for k, v in out.items()):
    raise ValueError(f"keys: expected a non-empty {{name: feature}} dict or list of feature "
                     f"names, got {keys!r}")
  return out


def select_keys(source, keys: Mapping | Sequence[str] | None):
  """``source`` reduced to ``keys`` ({name: feature} or a list of names); None keeps all.

  An :class:`ArraySource` stays one (its arrays are not copied); another source becomes a
  :class:`KeyedSource`. Raises ValueError naming ``keys`` when a feature is missing.
  """
  if keys is None:
    return source
  keys = _keys_mapping(keys)
  features = sorted(_record(source, 0))
  missing = sorted(set(keys.values()) - set(features))
  if missing:
    raise ValueError(f"keys: expected features among {features} of {source!r}, got "
                     f"{missing}")
  if isinstance(source, ArraySource):
    return ArraySource({name: source.arrays[f] for name, f in keys.items()})
  return KeyedSource(source, keys)


def tfds_source(name: str, data_dir, split: str = "train",
                keys: Mapping | Sequence[str] | None = None, **options) -> KeyedSource:
  """A TFDS array_record build of :mod:`inverse3d.data.tfds_builders` as a record source.

  Args:
    name, options: the dataset and options given to ``build_dataset``.
    split: a split or TFDS slice, e.g. "train" or "train[:100]".
    keys: ``{name: feature}`` (e.g. ``{"shapes": "voxels"}``) or a list of features to keep;
      None keeps every feature.
  Returns:
    a :class:`KeyedSource`; records are dicts of NumPy arrays as built (e.g. voxels uint8).
  Raises:
    FileNotFoundError if the dataset was not built (saying how to build it), ValueError naming
    ``split`` or ``keys`` when they are not in the build.
  """
  from inverse3d.data.tfds_builders import config_name, load_dataset, resolve_options

  try:
    source = load_dataset(name, data_dir, split, **options)
  except ValueError as error:
    if "split" not in str(error).lower() and "slice" not in str(error).lower():
      raise
    raise ValueError(f"split: expected a split of dataset {name!r} or a slice of one, such as "
                     f"'train[:100]', got {split!r} ({error})") from error
  features = sorted(source.dataset_info.features.keys())
  keys = _keys_mapping(features if keys is None else keys)
  missing = sorted(set(keys.values()) - set(features))
  if missing:
    raise ValueError(f"keys: expected features among {features} of dataset {name!r}, got "
                     f"{missing}")
  config = config_name(resolve_options(name, options))
  return KeyedSource(source, keys, label=f"tfds {name}/{config} split={split!r}")


def check_source(source) -> int:
  """Checks ``source`` is random-access with at least one dict record; returns ``len(source)``.

  Raises ValueError naming ``source`` otherwise.
  """
  if not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
    raise ValueError(f"source: expected a random-access source with __len__ and __getitem__, "
                     f"got {type(source).__name__}")
  n = len(source)
  if n < 1:
    raise ValueError(f"source: expected at least 1 record, got {n}")
  _record(source, 0)
  return n


def read_rows(source, rows: np.ndarray) -> dict:
  """``{name: (len(rows), ...) array}`` of records ``rows`` (R,) of any source: by its own
  ``read_rows`` where it has one, else its records stacked."""
  if hasattr(source, "read_rows"):
    return source.read_rows(rows)
  records = _read(source, rows)
  return {k: np.stack([r[k] for r in records]) for k in records[0]}


def _read(source, rows: np.ndarray) -> list:
  """Records ``rows`` of ``source``, by one ``__getitems__`` call where it has one."""
  indices = [int(r) for r in rows]
  if hasattr(source, "__getitems__"):
    return source.__getitems__(indices)
  return [source[i] for i in indices]


def _record(source, index: int) -> dict:
  record = source[index]
  if not isinstance(record, Mapping):
    raise ValueError(f"source: expected records that are dicts of arrays, got "
                     f"{type(record).__name__}")
  return record
