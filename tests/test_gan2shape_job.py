"""The gan2shape job (configs/gan2shape.py:runlocal) end to end on a tiny random 16x16 GAN
written as a stylegan2 workdir: the five rows, figures and meshes; a second run reads the
finished batches back; "" trains the stylegan2 runlocal GAN first; bad config input."""
import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs import gan2shape as gan2shape_config
from inverse3d import data
from inverse3d.gan import train_latent_encoder
from inverse3d.gan.export import save_generator, save_tree
from inverse3d.gan.generator import init_generator, map_latents
from inverse3d.gan.layers import conv_impl
from inverse3d.gan.networks import Discriminator, generator_spec
from inverse3d.jobs import gan2shape, stylegan2
from tiny_gan import random_params

SPEC = generator_spec(16, 128, 16, style_dim=32, mapping_layers=2)


@pytest.fixture(scope="module", autouse=True)
def native_convolutions():
  with conv_impl("native"):
    yield


@pytest.fixture(scope="module")
def gan_dir(native_convolutions, tmp_path_factory):
  """A stylegan2 workdir of a random GAN and 4 test renders with ground truth."""
  path = tmp_path_factory.mktemp("gan")
  rng = np.random.default_rng(0)
  key, image = jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32)
  g = random_params(jax.eval_shape(lambda: init_generator(SPEC, key)), rng, SPEC.lr_mul)
  d = random_params(jax.eval_shape(lambda: Discriminator(SPEC.channels).init(key, image)),
                    rng)["params"]
  g["w_avg"] = np.asarray(jax.jit(map_latents)(
      g, rng.standard_normal((256, SPEC.style_dim), np.float32))).mean(0)
  encoder = train_latent_encoder(g, d, steps=1, batch_size=2, key=jax.random.key(1),
                                 widths=(8, 16), hidden_samples=64)
  save_generator(path / "generator.npz", g)
  save_tree(path / "discriminator.npz", d)
  save_tree(path / "inversion" / "encoder.npz", encoder)
  test = data.face_image_splits(0, 1, 4, size=16)["test"]
  os.makedirs(path / "data")
  np.savez(path / "data" / "test.npz", images=np.round(test["images"] * 255).astype(np.uint8),
           **{k: test[k] for k in ("depth", "mask", "view", "light")})
  return str(path)


def config_for(gan_workdir):
  config = gan2shape_config.get_config("runlocal")
  config.gan_workdir = gan_workdir
  return config


def test_runlocal_job_and_resume(gan_dir, tmp_path, monkeypatch):
  summary = gan2shape.run(config_for(gan_dir), str(tmp_path))
  saved = json.loads((tmp_path / "results.json").read_text())
  assert [r["name"] for r in saved["rows"]] == list(gan2shape.ROWS)
  for row in saved["rows"]:
    assert row["n_images"] == 2
    assert all(np.isfinite(row[k]) and row[k] >= 0
               for k in ("side_mean", "side_std", "mad_mean", "mad_std"))
  null = {r["name"]: r for r in saved["rows"]}["constant null depth"]
  assert null["side_mean"] > 0 and null["mad_mean"] > 1.0   # faces are not flat
  timings = saved["timings"]
  assert timings["minutes_per_image"] > 0
  assert set(timings["steps_per_second"]) == {"depth", "albedo", "encoder", "shape"}
  for rel in saved["figures"] + saved["meshes"]:
    assert os.path.getsize(tmp_path / rel) > 1000
  assert len(saved["figures"]) == len(saved["meshes"]) == 2
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(line)["image"] for line in lines] == [0, 1]

  def refuse(*args, **kwargs):
    raise AssertionError("reconstruct called again for a finished batch")
  monkeypatch.setattr(gan2shape, "reconstruct", refuse)
  again = gan2shape.run(config_for(gan_dir), str(tmp_path))
  assert again["rows"] == summary["rows"]


def test_empty_gan_workdir_trains_the_stylegan2_runlocal_gan(gan_dir, tmp_path, monkeypatch):
  calls = []

  def fake_run(config, workdir):
    calls.append((config, workdir))
    shutil.copytree(gan_dir, workdir)
  monkeypatch.setattr(stylegan2, "run", fake_run)
  path = gan2shape.gan_workdir(config_for(""), str(tmp_path))
  assert path == str(tmp_path / "gan")
  (config, workdir), = calls
  assert workdir == path and config.model.resolution == 16 and config.train.steps < 100
  assert gan2shape.gan_workdir(config_for(""), str(tmp_path)) == path and len(calls) == 1


def test_bad_config_names_the_field(gan_dir, tmp_path):
  with pytest.raises(ValueError, match="config.gan_workdir"):
    gan2shape.run(config_for(str(tmp_path / "missing")), str(tmp_path / "w"))
  config = config_for(gan_dir)
  config.eval.images = 5
  with pytest.raises(ValueError, match=r"config.eval.images: expected 1..4"):
    gan2shape.run(config, str(tmp_path / "w"))
