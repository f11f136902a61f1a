"""The datasets job end to end (its runlocal variant), as the README's first command runs it."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_datasets_job_runlocal(tmp_path, shared_file):
  shared_file("modelnet10_vox30.npz")
  shared_file("face_model_ict.npz")
  subprocess.run([sys.executable, "-m", "launch.main", "--config",
                  "configs/datasets.py:runlocal", "--workdir", str(tmp_path)],
                 cwd=REPO, check=True, capture_output=True)
  summary = json.loads((tmp_path / "datasets.json").read_text())
  for name in ("procedural_faces", "procedural_face_images", "procedural_objects", "modelnet10",
               "ict_faces"):
    image = np.asarray(Image.open(summary[name]["figure"]))
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 10  # a drawn figure, not a blank canvas
  assert summary["modelnet10"] == dict(summary["modelnet10"], train=3991, test=908)
  assert summary["ict_faces"]["vertices"] == 6706
  import tensorflow_datasets as tfds
  for name, directory in summary["tfds"].items():
    builder = tfds.builder_from_directory(directory)
    assert builder.info.splits["train"].num_examples == 20
    assert builder.info.splits["test"].num_examples == 10


def test_unknown_config_field_is_named(tmp_path):
  result = subprocess.run([sys.executable, "-m", "launch.main", "--config",
                           "configs/datasets.py:runlocal", "--workdir", str(tmp_path),
                           "--config.no_such_field=3"], cwd=REPO, capture_output=True, text=True)
  assert result.returncode != 0
  assert "no_such_field" in result.stderr
