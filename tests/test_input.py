"""The grain input pipeline: the global batch order, per-process rows, resuming from a state
or a step, TFDS array_record sources against in-memory ones, and argument errors."""
import json

import jax
import numpy as np
import pytest

from inverse3d.data.tfds_builders import build_dataset
from inverse3d.train.input import ArraySource, Batches, GlobalOrder, tfds_source
from inverse3d.train.sources import KeyedSource, select_keys

N, B = 23, 4  # 5 batches per epoch, 3 examples dropped from each


def arrays(n=N):
  """``index`` (n,) says which example a row is; ``images`` (n, 2, 3) float32 follow it."""
  return {"index": np.arange(n), "images": np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)}


def formula_rows(key, n, batch_size, step):
  """The global batch of ``step``, written out from the order's definition (the mapping loop's
  order before grain fed it)."""
  epoch, i = divmod(step, n // batch_size)
  perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
  return perm[i * batch_size:(i + 1) * batch_size]


def take(batches, count):
  return [next(batches) for _ in range(count)]


def test_order_is_batch_order_for_three_epochs():
  key = jax.random.fold_in(jax.random.key(5), 2)  # as the loop derives a stage's key
  order = GlobalOrder(key, N, B)
  data = arrays()
  for g, batch in enumerate(take(Batches(ArraySource(data), key, B), 15)):
    np.testing.assert_array_equal(batch["index"], order.rows(g))
    np.testing.assert_array_equal(batch["index"], formula_rows(key, N, B, g))
    np.testing.assert_array_equal(batch["images"], data["images"][order.rows(g)])
    assert batch["images"].dtype == np.float32 and batch["images"].shape == (B, 2, 3)


def test_two_processes_together_read_the_one_process_batches():
  key = jax.random.key(3)
  whole = take(Batches(ArraySource(arrays()), key, B), 12)
  halves = [take(Batches(ArraySource(arrays()), key, B, rows), 12)
            for rows in (slice(0, 2), slice(2, 4))]
  for g in range(12):
    for name in ("index", "images"):
      joined = np.concatenate([halves[0][g][name], halves[1][g][name]])
      np.testing.assert_array_equal(joined, whole[g][name])
    assert len(halves[0][g]["index"]) == 2


@pytest.mark.parametrize("k", [3, 4])  # 4: the resumed batches cross the epoch boundary at 5
def test_resume_from_a_state_or_a_step_number(k):
  key = jax.random.key(4)
  rows = slice(1, 4)
  straight = take(Batches(ArraySource(arrays()), key, B, rows), k + 4)
  first = Batches(ArraySource(arrays()), key, B, rows)
  take(first, k)
  state = json.loads(json.dumps(first.get_state()))  # as a checkpoint stores it
  assert state["step"] == k and first.step == k
  resumed = Batches(ArraySource(arrays()), key, B, rows)
  resumed.set_state(state)
  by_step = Batches(ArraySource(arrays()), key, B, rows, start_step=k)
  for loader in (resumed, by_step, first):
    for g, batch in enumerate(take(loader, 4), start=k):
      np.testing.assert_array_equal(batch["index"], straight[g]["index"])
      np.testing.assert_array_equal(batch["images"], straight[g]["images"])
    assert loader.step == k + 4
  by_step.seek(1)
  np.testing.assert_array_equal(next(by_step)["index"], straight[1]["index"])


def test_a_state_of_another_loader_is_refused():
  key = jax.random.key(6)
  loader = Batches(ArraySource(arrays()), key, B, slice(0, 2))
  take(loader, 2)
  state = loader.get_state()
  for other in (Batches(ArraySource(arrays()), key, B, slice(2, 4)),
                Batches(ArraySource(arrays()), jax.random.key(7), B, slice(0, 2)),
                Batches(ArraySource(arrays()), key, B, slice(0, 2), keys=["index"])):
    with pytest.raises(ValueError, match=r"state: expected the state of a loader with this "
                                         r"source, order, rows and worker_count at step 2"):
      other.set_state(state)
  with pytest.raises(ValueError, match=r"differing in \['last_seen_indices'\]"):
    loader.set_state({**state, "step": 3})
  with pytest.raises(ValueError, match="state: expected a dict with 'step' and 'grain'"):
    loader.set_state({"step": 2})
  with pytest.raises(ValueError, match=r"state\['step'\]: expected an integer >= 0, got -1"):
    loader.set_state({**state, "step": -1})


@pytest.fixture
def tiny_modelnet(tmp_path):
  """9 train grids (uint8 0/1 voxels once built) and 2 test grids, as the ModelNet npz."""
  rng = np.random.default_rng(0)
  data = dict(X_train=(rng.random((9, 30, 30, 30)) < 0.1).astype(np.int32),
              y_train=np.arange(9) % 10, X_test=np.zeros((2, 30, 30, 30), np.int32),
              y_test=np.array([2, 6]))
  path = tmp_path / "tiny.npz"
  np.savez(path, **data)
  build_dataset("modelnet10", tmp_path / "tfds", path=str(path))
  return tmp_path / "tfds", str(path), data


def test_tfds_source_gives_the_in_memory_batches(tiny_modelnet):
  data_dir, path, data = tiny_modelnet
  source = tfds_source("modelnet10", data_dir, "train", keys={"shapes": "voxels",
                                                              "labels": "label"}, path=path)
  assert isinstance(source, KeyedSource) and len(source) == 9
  memory = ArraySource({"shapes": data["X_train"].astype(np.uint8), "labels": data["y_train"]})
  key = jax.random.key(8)
  for rows in (slice(0, 4), slice(1, 3)):
    got = take(Batches(source, key, 4, rows), 6)  # 3 epochs of 2 batches
    want = take(Batches(memory, key, 4, rows), 6)
    for g in range(6):
      assert sorted(got[g]) == ["labels", "shapes"]
      for name in ("shapes", "labels"):
        np.testing.assert_array_equal(got[g][name], want[g][name])
        assert got[g][name].dtype == want[g][name].dtype
  loaded = ArraySource.from_source(source, chunk=4)
  np.testing.assert_array_equal(loaded.arrays["shapes"], memory.arrays["shapes"])
  np.testing.assert_array_equal(loaded.arrays["labels"], memory.arrays["labels"])


def test_tfds_source_errors_and_feature_selection(tiny_modelnet, tmp_path):
  data_dir, path, _ = tiny_modelnet
  everything = tfds_source("modelnet10", data_dir, "test", path=path)
  assert sorted(everything[0]) == ["label", "voxels"] and len(everything) == 2
  listed = tfds_source("modelnet10", data_dir, "train[:3]", keys=["voxels"], path=path)
  assert list(listed[0]) == ["voxels"] and len(listed) == 3
  with pytest.raises(FileNotFoundError, match="Build it first"):
    tfds_source("modelnet10", tmp_path / "elsewhere", path=path)
  with pytest.raises(ValueError, match=r"split: expected a split of dataset 'modelnet10' .* "
                                       r"got 'validation'"):
    tfds_source("modelnet10", data_dir, "validation", path=path)
  with pytest.raises(ValueError, match=r"keys: expected features among \['label', 'voxels'\] "
                                       r"of dataset 'modelnet10', got \['voxel'\]"):
    tfds_source("modelnet10", data_dir, keys={"shapes": "voxel"}, path=path)


def test_select_keys_renames_and_keeps_arrays_in_memory():
  source = ArraySource(arrays())
  picked = select_keys(source, {"shapes": "images"})
  assert isinstance(picked, ArraySource) and list(picked[0]) == ["shapes"]
  assert picked.arrays["shapes"] is source.arrays["images"]
  plain = [{"a": np.full(2, i)} for i in range(5)]  # any sequence of dicts is a source
  batch = next(Batches(plain, jax.random.key(0), 2, keys={"b": "a"}))
  assert list(batch) == ["b"] and batch["b"].shape == (2, 2)
  with pytest.raises(ValueError, match=r"keys: expected features among \['images', 'index'\] "
                                       r"of ArraySource\(23 records"):
    select_keys(source, ["shapes"])


def test_bad_arguments_are_named():
  source, key = ArraySource(arrays()), jax.random.key(0)
  with pytest.raises(ValueError, match="batch_size: expected at most the 23 examples of stage "
                                       "mapping, got 24"):
    Batches(source, key, 24, what="examples of stage mapping")
  with pytest.raises(ValueError, match="batch_size: expected an integer >= 1, got 0"):
    Batches(source, key, 0)
  for rows in (slice(2, 6), slice(3, 3), slice(0, 4, 2), slice(None, 2), (0, 2)):
    with pytest.raises(ValueError, match=r"rows: expected slice\(start, stop\) with 0 <= start "
                                         r"< stop <= 4 \(rows of the global batch\), got"):
      Batches(source, key, B, rows)
  with pytest.raises(ValueError, match="start_step: expected an integer >= 0, got -1"):
    Batches(source, key, B, start_step=-1)
  with pytest.raises(ValueError, match="worker_count: expected an integer >= 0, got -1"):
    Batches(source, key, B, worker_count=-1)
  with pytest.raises(ValueError, match="key: expected a jax.random key"):
    Batches(source, 3, B)
  with pytest.raises(ValueError, match="source: expected a random-access source"):
    Batches(iter([{"a": 1}]), key, 1)
  with pytest.raises(ValueError, match="source: expected at least 1 record, got 0"):
    Batches([], key, 1)
  with pytest.raises(ValueError, match="source: expected records that are dicts of arrays, got "
                                       "ndarray"):
    Batches(np.zeros((5, 2)), key, 1)
  with pytest.raises(ValueError, match=r"arrays: expected arrays with a common leading size "
                                       r"N >= 1, got sizes \{'a': 3, 'b': 2\}"):
    ArraySource({"a": np.zeros(3), "b": np.zeros(2)})
  with pytest.raises(ValueError, match="arrays: expected a non-empty dict"):
    ArraySource({})
  with pytest.raises(ValueError, match="keys: expected a non-empty"):
    Batches(source, key, B, keys="index")


def test_worker_processes_read_the_same_batches():
  """Two grain worker processes (spawned: slow to start) take the steps round robin; the
  loader still returns them in step order, and records the position seek/set_state rebuild
  (after a step of each worker, 4, and after one of worker 0 alone, 5) and seek to."""
  key = jax.random.key(9)
  loader = Batches(ArraySource(arrays()), key, B, slice(1, 4), worker_count=2)
  for g, batch in enumerate(take(loader, 4)):
    np.testing.assert_array_equal(batch["index"], formula_rows(key, N, B, g)[1:4])
  assert loader.get_state()["grain"] == loader._grain_state(4)
  np.testing.assert_array_equal(next(loader)["index"], formula_rows(key, N, B, 4)[1:4])
  assert loader.get_state()["grain"] == loader._grain_state(5)
  loader.seek(3)  # worker 1's step: the workers restart where the rebuilt state says
  for g, batch in enumerate(take(loader, 3), start=3):
    np.testing.assert_array_equal(batch["index"], formula_rows(key, N, B, g)[1:4])


def test_resume_from_another_process_state_continues_at_its_step():
  key, data = jax.random.key(4), arrays()
  lead = Batches(ArraySource(data), key, B, slice(0, 2))
  take(lead, 3)
  saved = json.loads(json.dumps(lead.get_state()))
  other = Batches(ArraySource(data), key, B, slice(2, 4))
  other.resume(saved)  # the checkpoint holds the lead's state; this process has other rows
  reference = take(Batches(ArraySource(data), key, B, slice(2, 4)), 5)[3:]
  for got, want in zip(take(other, 2), reference):
    np.testing.assert_array_equal(got["index"], want["index"])
  same = Batches(ArraySource(data), key, B, slice(0, 2))
  same.resume(saved)
  assert same.get_state() == saved
