"""Atomic writing: permissions as open() makes them, several files all or nothing; JSON that
stays valid with NaN and inf."""
import json
import math
import os
import stat

import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d import files
from inverse3d.data.binvox import write_binvox
from inverse3d.files import (atomic_write, atomic_write_all, dumps_json, json_safe, save_figure,
                             write_json)
from inverse3d.progress import MetricsWriter
from inverse3d.render import save_obj


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
  old = os.umask(request.param)
  yield request.param
  os.umask(old)


def mode(path) -> int:
  return stat.S_IMODE(os.stat(path).st_mode)


def test_files_get_the_mode_open_gives(tmp_path, umask):
  with open(tmp_path / "reference", "w") as f:
    f.write("x")
  expected = mode(tmp_path / "reference")
  assert expected == 0o666 & ~umask
  with atomic_write(tmp_path / "a.bin") as f:
    f.write(b"x")
  with atomic_write(tmp_path / "a.txt", "w") as f:
    f.write("x")
  with atomic_write_all() as create:
    with create(tmp_path / "b.bin") as f:
      f.write(b"x")
  write_json(tmp_path / "results.json", {"rmse": 0.5})
  write_binvox(tmp_path / "v.binvox", np.ones((2, 2, 2), np.uint8))
  depth, albedo = np.ones((3, 3), np.float32), np.full((3, 3, 3), 0.5, np.float32)
  written = save_obj(tmp_path / "m.obj", depth, albedo, texture=True)
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  save_figure(plt.figure(), tmp_path / "fig.png")
  paths = ["a.bin", "a.txt", "b.bin", "results.json", "v.binvox", "fig.png"] + written
  assert {str(p): oct(mode(tmp_path / p)) for p in paths} == {
      str(p): oct(expected) for p in paths}


def test_replacing_a_file_gives_the_new_mode_and_leaves_no_temporary(tmp_path, umask):
  path = tmp_path / "out.txt"
  path.write_text("old")
  os.chmod(path, 0o600)
  with atomic_write(path, "w") as f:
    f.write("new")
  assert path.read_text() == "new"
  assert mode(path) == 0o666 & ~umask
  assert os.listdir(tmp_path) == ["out.txt"]


def test_failed_atomic_write_leaves_the_old_file(tmp_path):
  path = tmp_path / "out.txt"
  path.write_text("old")
  with pytest.raises(RuntimeError, match="boom"):
    with atomic_write(path, "w") as f:
      f.write("half")
      raise RuntimeError("boom")
  assert path.read_text() == "old"
  assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_write_all_renames_only_when_every_file_is_written(tmp_path):
  with pytest.raises(OSError, match="disk full"):
    with atomic_write_all() as create:
      with create(tmp_path / "a.png") as f:
        f.write(b"png")
      with create(tmp_path / "a.mtl", "w") as f:
        f.write("mtl")
      with create(tmp_path / "a.obj", "w") as f:
        raise OSError("disk full")
  assert os.listdir(tmp_path) == []
  with atomic_write_all() as create:
    for name in ("a.png", "a.obj"):
      with create(tmp_path / name) as f:
        f.write(name.encode())
  assert sorted(os.listdir(tmp_path)) == ["a.obj", "a.png"]
  assert (tmp_path / "a.obj").read_bytes() == b"a.obj"


def test_atomic_write_all_removes_what_it_renamed_when_a_rename_fails(tmp_path, monkeypatch):
  real_replace = os.replace
  calls = []

  def replace(src, dst):
    calls.append(dst)
    if len(calls) == 3:
      raise OSError("rename failed")
    real_replace(src, dst)

  monkeypatch.setattr(files.os, "replace", replace)
  with pytest.raises(OSError, match="rename failed"):
    with atomic_write_all() as create:
      for name in ("a.png", "a.mtl", "a.obj"):
        with create(tmp_path / name, "w") as f:
          f.write(name)
  assert len(calls) == 3
  assert os.listdir(tmp_path) == []


def test_json_safe_turns_non_finite_floats_into_null_and_records_them():
  nonfinite = {}
  out = json_safe({"a": float("nan"), "b": [1, np.float32(np.inf), (2, -np.inf)],
                   "c": jnp.float32(2.5), "d": np.array([1.0, np.nan]), "e": np.int64(3),
                   "f": np.bool_(True), "g": "text", "h": None}, nonfinite)
  assert out == {"a": None, "b": [1, None, [2, None]], "c": 2.5, "d": [1.0, None], "e": 3,
                 "f": True, "g": "text", "h": None}
  assert nonfinite == {"a": "nan", "b/1": "inf", "b/2/1": "-inf", "d/1": "nan"}
  assert json.loads(dumps_json({"rmse": math.nan})) == {"rmse": None}


def test_write_json_is_valid_json(tmp_path):
  path = write_json(tmp_path / "results.json", {"faces": {"rmse": np.float32("nan"),
                                                          "iou": [0.5, math.inf]}})
  text = open(path).read()
  assert "NaN" not in text and "Infinity" not in text
  assert json.loads(text) == {"faces": {"rmse": None, "iou": [0.5, None]}}


def test_metrics_writer_writes_valid_json_lines(tmp_path):
  writer = MetricsWriter(tmp_path)
  writer.write(step=1, loss=np.float32(0.25), grad_norm=jnp.float32(2.0))
  writer.write(step=2, loss=float("nan"), grad_norm=jnp.float32(jnp.inf), test_rmse=-math.inf)
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert not any(word in line for line in lines for word in ("NaN", "Infinity"))
  records = [json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in {line}"))
             for line in lines]
  assert records[0] == {"step": 1, "loss": 0.25, "grad_norm": 2.0}
  assert records[1] == {"step": 2, "loss": None, "grad_norm": None, "test_rmse": None,
                        "nonfinite": {"loss": "nan", "grad_norm": "inf", "test_rmse": "-inf"}}


def test_metrics_writer_names_a_bad_key(tmp_path):
  writer = MetricsWriter(tmp_path)
  with pytest.raises(ValueError, match=r"metrics\['model'\]: expected numbers, strings, lists or "
                                       r"dicts, got object"):
    writer.write(step=1, model=object())
  with pytest.raises(ValueError, match=r"metrics: expected no key 'nonfinite'"):
    writer.write(nonfinite=1)
  assert not (tmp_path / "metrics.jsonl").exists() or (tmp_path / "metrics.jsonl").read_text() == ""
