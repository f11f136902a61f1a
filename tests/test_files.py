"""Atomic writing: permissions as open() makes them, several files all or nothing."""
import os
import stat

import numpy as np
import pytest

from inverse3d import files
from inverse3d.data.binvox import write_binvox
from inverse3d.files import atomic_write, atomic_write_all, save_figure
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
  with atomic_write(tmp_path / "results.json", "w") as f:
    f.write("{}")
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
