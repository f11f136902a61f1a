"""The stylegan2 job: face images with ground truth, the GAN trained on them, its quality.

Writes to the workdir:
- data/{train,test}.npz: the face images (uint8) and their view and light (test: also depth
  and mask), drawn once by ``face_image_splits`` and reused on resume;
- checkpoints/, metrics.jsonl: the training (``inverse3d.gan.training``);
- snapshots/generator_SSSSSS.npz and samples/samples_SSSSSS.png every ``eval_every``
  iterations: the EMA generator and an 8 x 8 grid of the same latents;
- generator.npz: the final EMA generator (``inverse3d.gan.load_generator``);
- figures and results.json of the quality measurements (``inverse3d.eval.gan_quality``).
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import logging

from inverse3d import data
from inverse3d.eval.gan_figures import image_grid_figure
from inverse3d.files import atomic_write, save_figure
from inverse3d.gan import training
from inverse3d.gan.export import save_generator
from inverse3d.gan.generator import generate, to_uint8

TRAIN_KEYS = ("images", "view", "light")
TEST_KEYS = ("images", "view", "light", "depth", "mask")


def face_data(config, workdir: str) -> dict:
  """{"train": ..., "test": ...} face images as uint8 with their ground truth, drawn once
  into ``workdir/data``."""
  folder = os.path.join(workdir, "data")
  paths = {split: os.path.join(folder, f"{split}.npz") for split in ("train", "test")}
  if all(os.path.exists(p) for p in paths.values()):
    return {split: dict(np.load(p)) for split, p in paths.items()}
  dc = config.data
  face_model = None
  if dc.dataset == "ict_faces":
    face_model = data.load_face_model(data.resolve_data_path(
        os.path.join(config.data_dir, "face_model_ict.npz") if config.data_dir
        else "face_model_ict.npz"))
  logging.info("drawing %d train and %d test face images", dc.n_train, dc.n_test)
  splits = data.face_image_splits(dc.seed, dc.n_train, dc.n_test, size=config.model.resolution,
                                  face_model=face_model, chunk=256)
  os.makedirs(folder, exist_ok=True)
  out = {}
  for split, keys in (("train", TRAIN_KEYS), ("test", TEST_KEYS)):
    arrays = {k: splits[split][k] for k in keys}
    arrays["images"] = np.round(arrays["images"] * 255).astype(np.uint8)
    with atomic_write(paths[split], "wb") as f:
      np.savez(f, **arrays)
    out[split] = arrays
  return out


def run(config, workdir: str) -> dict:
  faces = face_data(config, workdir)
  grid_z = jax.random.normal(jax.random.key(config.seed + 1),
                             (config.figure_samples, config.model.style_dim))
  os.makedirs(os.path.join(workdir, "snapshots"), exist_ok=True)
  os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)

  def snapshot(step, generator):
    path = save_generator(os.path.join(workdir, "snapshots", f"generator_{step:06d}.npz"),
                          generator)
    grid = to_uint8(generate(generator, grid_z))
    save_figure(image_grid_figure(grid, f"EMA generator, iteration {step}"),
                os.path.join(workdir, "samples", f"samples_{step:06d}.png"))
    return {"snapshot": os.path.relpath(path, workdir)}

  result = training.train(config, workdir, faces["train"]["images"], evaluate=snapshot)
  generator_path = save_generator(os.path.join(workdir, "generator.npz"), result["generator"])
  logging.info("stylegan2: trained in %.0f s; generator at %s", result["train_seconds"],
               generator_path)
  return {"generator": generator_path, "train_seconds": result["train_seconds"]}
