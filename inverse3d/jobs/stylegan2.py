"""The stylegan2 job: face images with ground truth, the GAN trained on them, its quality.

Writes to the workdir:
- data/{train,test}.npz: the face images (uint8) and their view and light (test: also depth
  and mask), drawn once by ``face_image_splits`` and reused on resume;
- checkpoints/, metrics.jsonl: the training (``inverse3d.gan.training``);
- snapshots/generator_SSSSSS.npz and samples/samples_SSSSSS.png every ``eval_every``
  iterations: the EMA generator and an 8 x 8 grid of the same latents;
- generator.npz: the final EMA generator (``inverse3d.gan.load_generator``) and
  discriminator.npz its discriminator (``inverse3d.gan.load_discriminator``), which GAN2Shape's
  inversion and feature losses use;
- figures and results.json of the quality measurements (``inverse3d.eval.gan_quality``);
- inversion/encoder.npz, the latent encoder trained on generator samples, and the inversion
  scores on held-out test renders (``inverse3d.eval.gan_inversion``), figures/inversion.png.
"""
from __future__ import annotations

import glob
import os

import jax
import numpy as np
from absl import logging

from inverse3d import data
from inverse3d.eval import gan_figures, gan_inversion, gan_quality
from inverse3d.eval.gan_figures import image_grid_figure
from inverse3d.files import atomic_write, save_figure, write_json
from inverse3d.gan import training
from inverse3d.gan.export import load_generator, load_tree, save_generator, save_tree
from inverse3d.gan.generator import generate, spec_of, to_uint8
from inverse3d.gan.inversion import train_latent_encoder

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
  face_model = data.face_model_of(dc.dataset, config.data_dir)
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
  save_tree(os.path.join(workdir, "discriminator.npz"), result["discriminator"])
  logging.info("stylegan2: trained in %.0f s; generator at %s", result["train_seconds"],
               generator_path)
  summary = {"generator": os.path.relpath(generator_path, workdir),
             "train_seconds": result["train_seconds"],
             "iterations": config.train.steps, "batch_size": config.train.batch_size,
             "images_shown": config.train.steps * config.train.batch_size,
             "data": config.data.to_dict()}
  summary.update(quality(config, workdir, faces, result["generator"]))
  summary.update(inversion(config, workdir, faces["test"]["images"], result["generator"],
                           result["discriminator"]))
  write_json(os.path.join(workdir, "results.json"), summary)
  return summary


def _generated(generator: dict, key, n: int, batch: int = 100) -> np.ndarray:
  """n uint8 images of ``generator`` from z drawn from ``key`` (truncation 1, const noise)."""
  z = jax.random.normal(key, (n, spec_of(generator).style_dim))
  return np.concatenate([to_uint8(generate(generator, z[i:i + batch]))
                         for i in range(0, n, batch)])


def _regressor(config, workdir: str, faces: dict) -> dict:
  """The factor regressor trained on the train split's labels, cached in the workdir."""
  path = os.path.join(workdir, "quality", "regressor.npz")
  if os.path.exists(path):
    return load_tree(path)
  train = faces["train"]
  regressor = gan_quality.train_factor_regressor(
      train["images"], gan_quality.factor_targets(train["view"], train["light"]),
      steps=config.quality.feature_steps, key=jax.random.key(config.seed + 2))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  save_tree(path, regressor)
  return regressor


def quality(config, workdir: str, faces: dict, final: dict) -> dict:
  """Frechet distance and coverage of every snapshot, the real-real floor, figures."""
  n = config.quality.samples
  test = faces["test"]
  if len(test["images"]) < 2 * n:
    raise ValueError(f"config.quality.samples: expected at most half the {len(test['images'])} "
                     f"test images (two disjoint real sets), got {n}")
  regressor = _regressor(config, workdir, faces)
  real_features, real_factors = gan_quality.predict(regressor, test["images"][:n])
  floor_features, floor_factors = gan_quality.predict(regressor, test["images"][n:2 * n])
  truth = gan_quality.factor_targets(test["view"], test["light"])
  error = np.abs(np.concatenate([real_factors, floor_factors]) - truth[:2 * n]).mean(0)
  floor = gan_quality.frechet_distance(floor_features, real_features)
  key = jax.random.key(config.seed + 3)
  rows, factors = [], None
  snapshots = sorted(glob.glob(os.path.join(workdir, "snapshots", "generator_*.npz")))
  for path in snapshots:
    step = int(os.path.basename(path)[len("generator_"):-len(".npz")])
    generated = _generated(load_generator(path), key, n)
    features, factors = gan_quality.predict(regressor, generated)
    rows.append({"step": step, "frechet": gan_quality.frechet_distance(features, real_features),
                 "coverage": gan_quality.coverage(factors, floor_factors)})
    logging.info("stylegan2 quality: iteration %d Frechet %.3f (floor %.3f) yaw span %.2f "
                 "light dx span %.2f", step, rows[-1]["frechet"], floor,
                 rows[-1]["coverage"]["yaw_deg"]["span"],
                 rows[-1]["coverage"]["light_dx"]["span"])
  if factors is None or rows[-1]["step"] != config.train.steps:
    # The last snapshot is the final generator (train evaluates at the last step); this is
    # only for a workdir without it.
    generated = _generated(final, key, n)
    _, factors = gan_quality.predict(regressor, generated)
  final_factors = factors
  figures = os.path.join(workdir, "figures")
  os.makedirs(figures, exist_ok=True)
  shown = config.figure_samples
  paths = [
      save_figure(gan_figures.side_by_side_figure(
          {"generated (EMA, truncation 1)": generated[:shown],
           "real training images": faces["train"]["images"][:shown]},
          f"{config.data.dataset}, {config.model.resolution}x{config.model.resolution}, "
          f"iteration {config.train.steps}"), os.path.join(figures, "samples_vs_real.png")),
      save_figure(gan_figures.coverage_figure(
          final_factors, floor_factors, truth[n:2 * n], gan_quality.FACTORS,
          f"Coverage of pose and light, {n} generated vs {n} real test images"),
          os.path.join(figures, "coverage.png"))]
  if rows:
    paths.append(save_figure(gan_figures.quality_figure(rows, floor),
                             os.path.join(figures, "quality_over_training.png")))
  return {"quality": {
      "samples": n, "frechet_floor": floor, "over_training": rows,
      "final_coverage": gan_quality.coverage(final_factors, floor_factors),
      "regressor_test_mae": dict(zip(gan_quality.FACTORS, map(float, error))),
      "figures": [os.path.relpath(p, workdir) for p in paths]}}


def inversion(config, workdir: str, test_images: np.ndarray, generator: dict,
              d_params: dict) -> dict:
  """The latent encoder (trained once, cached in the workdir) and both inversions of the last
  ``config.inversion.images`` test renders (the generator never saw them) against the mean-w
  image; figures/inversion.png."""
  ic = config.inversion
  path = os.path.join(workdir, "inversion", "encoder.npz")
  if os.path.exists(path):
    encoder = load_tree(path)
  else:
    logging.info("stylegan2: training the latent encoder, %d steps", ic.encoder_steps)
    encoder = train_latent_encoder(generator, d_params, steps=ic.encoder_steps,
                                   batch_size=ic.encoder_batch,
                                   key=jax.random.key(config.seed + 4))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_tree(path, encoder)
  if not 0 < ic.images <= len(test_images):
    raise ValueError(f"config.inversion.images: expected 1..{len(test_images)} (the test "
                     f"split), got {ic.images}")
  images = test_images[-ic.images:].astype(np.float32) / 127.5 - 1.0
  out = gan_inversion.inversion_scores(generator, d_params, encoder, images,
                                       steps=ic.steps, lr=ic.lr)
  scores = out["scores"]
  for method, s in scores.items():
    logging.info("stylegan2 inversion: %-10s L1 %.4f +- %.4f  margin %.1f%%", method, s["l1"],
                 s["l1_std"], 100 * s["margin"])
  shown = {"test render": test_images[-ic.images:][:8],
           **{m: to_uint8(out["reconstructions"][m][:8]) for m in gan_inversion.METHODS}}
  labels = {m: f"L1 {s['l1']:.3f}" for m, s in scores.items()}
  figure = save_figure(gan_figures.rows_figure(
      shown, f"Inversion of held-out test renders ({ic.images} images, {ic.steps} Adam steps)",
      labels), os.path.join(workdir, "figures", "inversion.png"))
  return {"inversion": {"images": ic.images, "steps": ic.steps, "lr": ic.lr,
                        "encoder_steps": ic.encoder_steps, "scores": scores,
                        "figure": os.path.relpath(figure, workdir)}}
