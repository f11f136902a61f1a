import os
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from inverse3d.data.face_model import procedural_face_model
from inverse3d.data.face_readers import load_face_model
from inverse3d.data.modelnet import MODELNET10_CLASSES
from inverse3d.data.objects import procedural_objects
from inverse3d.data.tfds_builders import (DATASETS, build_dataset, config_name, dataset_dir,
                                          load_dataset, resolve_options)


@pytest.fixture
def tiny_modelnet(tmp_path):
  """6 train grids (grid 2 empty) and 3 test grids, as the ModelNet npz layout."""
  rng = np.random.default_rng(0)
  arrays = dict(X_train=(rng.random((6, 30, 30, 30)) < 0.1).astype(np.int32),
                y_train=np.array([3, 1, 4, 1, 5, 9]),
                X_test=(rng.random((3, 30, 30, 30)) < 0.1).astype(np.int32),
                y_test=np.array([2, 6, 5]))
  arrays["X_train"][2] = 0
  path = tmp_path / "tiny.npz"
  np.savez(path, **arrays)
  return str(path), arrays


def _all(source):
  return [source[i] for i in range(len(source))]


def test_modelnet10_round_trip_keeps_order_and_metadata(tmp_path, tiny_modelnet):
  path, arrays = tiny_modelnet
  data_dir = tmp_path / "tfds"
  built = build_dataset("modelnet10", data_dir, path=path)
  assert sorted(os.listdir(built)) == sorted(os.listdir(dataset_dir("modelnet10", data_dir,
                                                                    path=path)))
  assert any(f.startswith("modelnet10-train.array_record") for f in os.listdir(built))
  for split in ("train", "test"):
    examples = _all(load_dataset("modelnet10", data_dir, split, path=path))
    np.testing.assert_array_equal(np.stack([e["voxels"] for e in examples]), arrays[f"X_{split}"])
    np.testing.assert_array_equal([e["label"] for e in examples], arrays[f"y_{split}"])
    assert examples[0]["voxels"].dtype == np.uint8
  source = load_dataset("modelnet10", data_dir, "train[1:3]", path=path)
  assert len(source) == 2 and source[0]["label"] == 1
  metadata = source.dataset_info.metadata
  assert metadata["shared"]["class_names"] == list(MODELNET10_CLASSES)
  assert metadata["options"] == resolve_options("modelnet10", dict(path=path))


def test_readable_with_tfds_data_source_directly(tmp_path, tiny_modelnet):
  path, arrays = tiny_modelnet
  build_dataset("modelnet10", tmp_path, path=path)
  config = config_name(resolve_options("modelnet10", dict(path=path)))
  source = tfds.data_source(f"modelnet10/{config}", data_dir=str(tmp_path), split="test",
                            download=False)
  np.testing.assert_array_equal(source[2]["voxels"], arrays["X_test"][2])


def test_options_select_separate_builds_and_rebuild_is_a_no_op(tmp_path, tiny_modelnet):
  path, _ = tiny_modelnet
  plain = build_dataset("modelnet10", tmp_path, path=path)
  stamp = os.path.getmtime(os.path.join(plain, "dataset_info.json"))
  assert build_dataset("modelnet10", tmp_path, path=path) == plain
  assert os.path.getmtime(os.path.join(plain, "dataset_info.json")) == stamp
  dropped = build_dataset("modelnet10", tmp_path, path=path, drop_empty=True)
  assert dropped != plain
  assert len(load_dataset("modelnet10", tmp_path, "train", path=path)) == 6
  labels = [e["label"] for e in _all(load_dataset("modelnet10", tmp_path, "train", path=path,
                                                  drop_empty=True))]
  assert labels == [3, 1, 1, 5, 9]


def test_image_folder(tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
  for i, image in enumerate(pixels):
    Image.fromarray(image).save(folder / f"{i}.png")
  build_dataset("image_folder", tmp_path / "tfds", path=str(folder), size=8, grayscale=False)
  source = load_dataset("image_folder", tmp_path / "tfds", "train", path=str(folder), size=8,
                        grayscale=False)
  np.testing.assert_allclose(np.stack([e["image"] for e in _all(source)]), pixels / 255,
                             atol=1e-6)


def test_procedural_faces_deterministic_with_triangles(tmp_path):
  options = dict(seed=3, train=3, test=2, num_vertices=150, num_modes=5)
  sources = []
  for where in ("a", "b"):
    build_dataset("procedural_faces", tmp_path / where, **options)
    sources.append(load_dataset("procedural_faces", tmp_path / where, "train", **options))
  first, second = (np.stack([e["points"] for e in _all(s)]) for s in sources)
  np.testing.assert_array_equal(first, second)
  model = procedural_face_model(150, 5)
  assert first.shape == (3, model.mean.shape[0], 3)
  assert first.min() == 0.0 and first.max() == 1.0
  assert sources[0][0]["coefficients"].shape == (5,)
  np.testing.assert_array_equal(sources[0].dataset_info.metadata["shared"]["triangles"],
                                model.triangles)
  other = build_dataset("procedural_faces", tmp_path / "a", **dict(options, seed=4))
  assert other != dataset_dir("procedural_faces", tmp_path / "a", **options)


def test_procedural_objects_match_the_generator(tmp_path):
  options = dict(seed=1, train=3, test=2, classes="chair, table", grid=16)
  build_dataset("procedural_objects", tmp_path, **options)
  examples = _all(load_dataset("procedural_objects", tmp_path, "test", **options))
  # The builder derives one key per split from the seed: split(key(seed), 2)[1] is "test".
  want = procedural_objects(jax.random.split(jax.random.key(1), 2)[1], 2,
                            classes=("chair", "table"), grid=16)
  np.testing.assert_array_equal(np.stack([e["voxels"] for e in examples]), want["voxels"])
  np.testing.assert_array_equal([e["label"] for e in examples], want["labels"])
  assert {int(e["label"]) for e in examples} == {2, 8}  # chair, table


def test_ict_faces(tmp_path, shared_file):
  path = str(shared_file("face_model_ict.npz"))
  build_dataset("ict_faces", tmp_path, path=path, train=2, test=1)
  source = load_dataset("ict_faces", tmp_path, "test", path=path, train=2, test=1)
  example = source[0]
  assert len(source) == 1
  assert example["points"].shape == (6706, 3) and example["coefficients"].shape == (100,)
  triangles = source.dataset_info.metadata["shared"]["triangles"]
  np.testing.assert_array_equal(triangles, load_face_model(path).triangles)


def test_bad_names_options_and_missing_builds(tmp_path):
  with pytest.raises(ValueError, match="name: expected one of"):
    build_dataset("mnist", tmp_path)
  with pytest.raises(ValueError, match=r"options: expected options among .* got \['sise'\]"):
    build_dataset("image_folder", tmp_path, sise=8)
  with pytest.raises(ValueError, match="size: expected a str, number, bool or None"):
    build_dataset("image_folder", tmp_path, size=[8])
  with pytest.raises(FileNotFoundError, match="Build it first"):
    load_dataset("modelnet10", tmp_path, "train")
  with pytest.raises(ValueError, match="train: expected an integer >= 1"):
    build_dataset("procedural_faces", tmp_path, train=0)
  assert set(DATASETS) == {"modelnet10", "image_folder", "procedural_faces", "ict_faces",
                           "procedural_objects", "procedural_face_images"}


def test_does_not_import_tensorflow(tmp_path, tiny_modelnet):
  """Building and reading go through array_record and NumPy only (TF is not installed in CI)."""
  path, arrays = tiny_modelnet
  build_dataset("modelnet10", tmp_path, path=path)
  source = load_dataset("modelnet10", tmp_path, "test", path=path)
  np.testing.assert_array_equal(source[1]["voxels"], arrays["X_test"][1])
  assert "tensorflow" not in sys.modules
