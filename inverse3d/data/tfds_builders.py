"""Every dataset of the project as a TFDS builder, stored as array_record, readable without TF.

One mechanism serves all datasets. A dataset is a :class:`DatasetSource`: a function
``make(**options) -> (splits, shared)`` with ``splits = {split: {feature: (N, ...) array}}`` and
``shared`` small values common to all examples (e.g. mesh triangles), plus option defaults.
:func:`build_dataset` wraps it in a ``tfds.core.GeneratorBasedBuilder`` whose features are
inferred from the arrays (one ``Tensor`` per feature, zlib-compressed), whose examples keep the
arrays' order (shuffling disabled), whose config name is a hash of the resolved options (so
different options never overwrite each other), and whose metadata records the options and the
shared values. The files land in ``data_dir/<name>/<config>/1.0.0`` and read back with
``tfds.data_source("<name>/<config>", data_dir=data_dir)`` (what :func:`load_dataset` does) as a
random-access sequence of dicts of NumPy arrays; TensorFlow is never imported.

    build_dataset("modelnet10", "/tmp/tfds", drop_empty=True)
    train = load_dataset("modelnet10", "/tmp/tfds", "train", drop_empty=True)
    train[0]["voxels"].shape  # (30, 30, 30)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Callable

import jax
import numpy as np
import tensorflow_datasets as tfds

from inverse3d.checks import check_choice, check_positive_int
from inverse3d.data.face_images import face_image_splits
from inverse3d.data.face_model import FaceModel, procedural_face_model, sample_faces
from inverse3d.data.face_readers import load_face_model
from inverse3d.data.images import load_image_folder
from inverse3d.data.modelnet import MODELNET10_CLASSES, MODELNET10_FILE, load_modelnet10
from inverse3d.data.objects import OBJECT_CLASSES, procedural_objects

VERSION = "1.0.0"


@dataclasses.dataclass(frozen=True)
class DatasetSource:
  """A dataset as arrays.

  make: ``(**options) -> (splits, shared)``; ``splits`` maps split names to dicts of arrays
    with a common leading size N >= 1 and the same features and trailing shapes in every
    split; ``shared`` maps names to JSON-able values (lists, numbers, strings).
  defaults: every option ``make`` takes, with its default value (JSON scalars).
  description: one paragraph for the TFDS DatasetInfo.
  """
  make: Callable[..., tuple[dict, dict]]
  defaults: dict
  description: str


def _split_keys(seed: int, sizes: dict) -> dict:
  """One jax.random key per split, derived from ``seed``; sizes checked to be >= 1."""
  seed = check_positive_int("seed", seed, minimum=0)
  keys = jax.random.split(jax.random.key(seed), len(sizes))
  return {split: (key, check_positive_int(split, n))
          for (split, n), key in zip(sizes.items(), keys)}


def _face_splits(model: FaceModel, seed, train, test):
  splits = {split: {k: np.asarray(v) for k, v in sample_faces(key, model, n).items()}
            for split, (key, n) in _split_keys(seed, dict(train=train, test=test)).items()}
  return splits, dict(triangles=np.asarray(model.triangles).tolist())


def _procedural_faces(seed, train, test, num_vertices, num_modes):
  return _face_splits(procedural_face_model(num_vertices, num_modes), seed, train, test)


def _ict_faces(path, seed, train, test):
  return _face_splits(load_face_model(path), seed, train, test)


def _procedural_face_images(seed, train, test, size, model, num_vertices, num_modes):
  face_model = (procedural_face_model(num_vertices, num_modes) if model == "procedural"
                else load_face_model(model))
  splits = face_image_splits(seed, train, test, size=size, face_model=face_model)
  return {split: dict(image=np.round(d["images"] * 255).astype(np.uint8), depth=d["depth"],
                      mask=d["mask"], view=d["view"], light=d["light"])
          for split, d in splits.items()}, {}


def _procedural_objects(seed, train, test, classes, grid):
  names = OBJECT_CLASSES if classes is None else tuple(c.strip() for c in classes.split(","))
  splits = {}
  for split, (key, n) in _split_keys(seed, dict(train=train, test=test)).items():
    data = procedural_objects(key, n, classes=names, grid=grid)
    splits[split] = dict(voxels=np.asarray(data["voxels"]), label=np.asarray(data["labels"]))
  return splits, dict(class_names=list(OBJECT_CLASSES))


def _modelnet10(path, drop_empty, drop_duplicates):
  data = load_modelnet10(path, drop_empty=drop_empty, drop_duplicates=drop_duplicates)
  splits = {s: dict(voxels=data[s]["voxels"], label=data[s]["labels"]) for s in ("train", "test")}
  return splits, dict(class_names=list(MODELNET10_CLASSES))


def _image_folder(path, size, grayscale, max_images):
  images = load_image_folder(path, size=size, grayscale=grayscale, max_images=max_images)
  return dict(train=dict(image=images)), {}


_FACE_FEATURES = ("points (V, 3) float32 min-max normalised to [0, 1] per axis, albedo (V, 3) "
                  "in [0, 1], coefficients (K,), albedo_coefficients (Ka,); metadata.shared."
                  "triangles (T, 3)")

DATASETS = {
    "procedural_faces": DatasetSource(
        _procedural_faces, dict(seed=0, train=4000, test=1000, num_vertices=4000, num_modes=40),
        "Faces drawn from the project's procedural morphable model "
        f"(inverse3d.data.procedural_face_model, sample_faces): {_FACE_FEATURES}."),
    "ict_faces": DatasetSource(
        _ict_faces, dict(path="face_model_ict.npz", seed=0, train=4000, test=1000),
        "Faces drawn from a real morphable model file (by default the ICT Face Model in "
        f"shared/data; inverse3d.data.load_face_model, sample_faces): {_FACE_FEATURES}."),
    "procedural_face_images": DatasetSource(
        _procedural_face_images, dict(seed=0, train=4000, test=1000, size=64, model="procedural",
                                      num_vertices=4000, num_modes=40),
        "Colour renders of random faces at random views and lights over random backgrounds "
        "(inverse3d.data.face_image_splits: train and test from split(key(seed), 2)): image "
        "(size, size, 3) uint8, depth (size, size) float32 in the image's view (far 1.1 on the "
        "background), mask (size, size) bool, view (6,) [rx, ry, rz radians, tx, ty, tz], "
        "light (4,) [ambient, diffuse, dx, dy]; model: 'procedural' (num_vertices, num_modes "
        "used) or a face model file such as face_model_ict.npz."),
    "procedural_objects": DatasetSource(
        _procedural_objects, dict(seed=0, train=4000, test=1000, classes=None, grid=30),
        "Procedural objects of the ten ModelNet10 classes (inverse3d.data.procedural_objects): "
        "voxels (grid, grid, grid) uint8, axis 2 vertical, label indexing "
        "metadata.shared.class_names; classes: None (all) or comma-separated names."),
    "modelnet10": DatasetSource(
        _modelnet10, dict(path=MODELNET10_FILE, drop_empty=False, drop_duplicates=False),
        "ModelNet10 voxel grids (30^3 uint8, axis 2 vertical) with class labels 0..9, official "
        "train/test split (inverse3d.data.load_modelnet10)."),
    "image_folder": DatasetSource(
        _image_folder, dict(path="lfw", size=32, grayscale=True, max_images=None),
        "Unlabeled images of a folder such as LFW: float32 (size, size, 1 or 3) in [0, 1], "
        "centre-cropped and resized (inverse3d.data.load_image_folder); one 'train' split."),
}


def resolve_options(name: str, options: dict) -> dict:
  """The dataset's defaults updated with ``options``; paths become strings.

  Raises ValueError for an unknown dataset name, an unknown option or a value that is not a
  JSON scalar (str, int, float, bool, None).
  """
  check_choice("name", name, tuple(DATASETS))
  defaults = DATASETS[name].defaults
  unknown = sorted(set(options) - set(defaults))
  if unknown:
    raise ValueError(f"options: expected options among {sorted(defaults)} for dataset "
                     f"{name!r}, got {unknown}")
  resolved = {}
  for key, value in {**defaults, **options}.items():
    value = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(value, (str, int, float, bool, type(None))):
      raise ValueError(f"{key}: expected a str, number, bool or None, got "
                       f"{type(value).__name__} {value!r}")
    resolved[key] = value
  return resolved


def config_name(options: dict) -> str:
  """A short, deterministic TFDS config name for resolved options ('o' + 12 hex digits)."""
  text = json.dumps(options, sort_keys=True)
  return "o" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_splits(name: str, splits: dict) -> dict:
  """Converts features to NumPy and checks sizes and feature shapes agree across splits."""
  if not splits:
    raise ValueError(f"{name}: expected at least one split, got none")
  out, reference = {}, None
  for split, features in splits.items():
    features = {k: np.asarray(v) for k, v in features.items()}
    sizes = {k: v.shape[0] if v.ndim else None for k, v in features.items()}
    if not features or len(set(sizes.values())) != 1 or None in sizes.values() or \
        not next(iter(sizes.values())):
      raise ValueError(f"{name}: split {split!r}: expected features with a common leading "
                       f"size N >= 1, got sizes {sizes}")
    signature = {k: (v.shape[1:], v.dtype) for k, v in features.items()}
    if reference is not None and signature != reference:
      raise ValueError(f"{name}: split {split!r}: expected features {reference}, got "
                       f"{signature}")
    reference, out[split] = signature, features
  return out


def _tensor_feature(array: np.ndarray) -> tfds.features.Tensor:
  encoding = tfds.features.Encoding.ZLIB if array.ndim > 1 else tfds.features.Encoding.NONE
  return tfds.features.Tensor(shape=array.shape[1:], dtype=array.dtype, encoding=encoding)


class _ArraysBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Builds one :class:`DatasetSource` for given resolved options (subclassed per dataset)."""

  VERSION = tfds.core.Version(VERSION)
  SOURCE: DatasetSource

  def __init__(self, *, options: dict, **kwargs):
    self._options = options
    self._arrays = None
    super().__init__(**kwargs)

  def _made(self) -> tuple[dict, dict]:
    if self._arrays is None:
      splits, shared = self.SOURCE.make(**self._options)
      self._arrays = _check_splits(self.name, splits), shared
    return self._arrays

  def _info(self) -> tfds.core.DatasetInfo:
    splits, shared = self._made()
    first = next(iter(splits.values()))
    features = tfds.features.FeaturesDict({k: _tensor_feature(v) for k, v in first.items()})
    return tfds.core.DatasetInfo(
        builder=self, description=self.SOURCE.description, features=features,
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(options=self._options, shared=shared))

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is made locally
    return {split: self._generate_examples(features)
            for split, features in self._made()[0].items()}

  def _generate_examples(self, features: dict):
    for i in range(len(next(iter(features.values())))):
      yield i, {k: v[i] for k, v in features.items()}


_BUILDERS = {
    name: type("".join(w.title() for w in name.split("_")), (_ArraysBuilder,),
               dict(name=name, SOURCE=source, __module__=__name__), skip_registration=True)
    for name, source in DATASETS.items()
}


def dataset_dir(name: str, data_dir, **options) -> str:
  """Where :func:`build_dataset` puts ``name`` with these options (the TFDS builder dir)."""
  resolved = resolve_options(name, options)
  return os.path.join(os.fspath(data_dir), name, config_name(resolved), VERSION)


def build_dataset(name: str, data_dir, **options) -> str:
  """Makes dataset ``name`` with ``options`` and writes it as array_record under ``data_dir``.

  A dataset already built with the same options is left as it is. TFDS writes into a
  temporary folder and renames it when complete, so nothing half-written remains.

  Returns:
    the builder directory (data_dir/name/config/1.0.0).
  """
  resolved = resolve_options(name, options)
  target = dataset_dir(name, data_dir, **resolved)
  if os.path.isfile(os.path.join(target, "dataset_info.json")):
    return target
  config = tfds.core.BuilderConfig(name=config_name(resolved),
                                   description=json.dumps(resolved, sort_keys=True))
  builder = _BUILDERS[name](options=resolved, config=config, data_dir=os.fspath(data_dir),
                            file_format="array_record")
  builder.download_and_prepare()
  return target


def load_dataset(name: str, data_dir, split: str, **options):
  """Random-access source of examples of a built dataset, read without TensorFlow.

  Args:
    name, options: as given to :func:`build_dataset` (defaults fill the rest).
    split: a split name or TFDS slice such as "train" or "train[:100]".

  Returns:
    a sequence: ``len(source)``, ``source[i]`` -> dict of NumPy arrays (feature shapes as
    built); ``source.dataset_info.metadata`` holds the options and shared values.

  Raises:
    FileNotFoundError if it was not built, saying how to build it.
  """
  target = dataset_dir(name, data_dir, **options)
  if not os.path.isfile(os.path.join(target, "dataset_info.json")):
    raise FileNotFoundError(
        f"data_dir: expected dataset {name!r} with options "
        f"{resolve_options(name, options)} built under {os.fspath(data_dir)!r}, found nothing "
        f"at {target}. Build it first: build_dataset({name!r}, {os.fspath(data_dir)!r}, ...)")
  config = config_name(resolve_options(name, options))
  return tfds.data_source(f"{name}/{config}:{VERSION}", data_dir=os.fspath(data_dir),
                          split=split, download=False)
