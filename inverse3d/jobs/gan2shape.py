"""The gan2shape job: GAN2Shape on held-out face renders, scored against their true depth.

Reads the stylegan2 job's workdir (``config.gan_workdir``: the GAN, its latent encoder and
data/test.npz; "" trains the stylegan2 runlocal GAN into workdir/gan first) and writes:
- labelled_S_N.npz: labelled renders (train split of ``face_image_splits(config.labelled.seed)``),
  mask_net.npz and depth_net.npz: the mask net and the supervised depth net trained on them;
- batches/batch_XX/: each reconstruct() call's checkpoints and metrics, and result.npz once it
  finished (a killed job resumes: finished batches are read back, not recomputed);
- results.json (rows: SIDE and MAD, mean and std over the images, of gan2shape, the ellipsoid
  prior, constant null depth, the labelled renders' average depth, the supervised depth net;
  timings), metrics.jsonl (per image scores), figures/image_XX.png, meshes/image_XX.obj.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import logging

from inverse3d import data
from inverse3d.eval.depth_metrics import mad, mean_std, side
from inverse3d.files import save_figure, write_json
from inverse3d.gan.export import load_tree, save_tree
from inverse3d.gan2shape import (export_obj, load_gan, predict_mask, reconstruct,
                                 train_mask_net)
from inverse3d.gan2shape.figures import image_figure, renders
from inverse3d.gan2shape.supervised import predict_depth, train_depth_net
from inverse3d.progress import MetricsWriter

GAN_FILES = ("generator.npz", "discriminator.npz", "inversion/encoder.npz", "data/test.npz")
ROWS = ("gan2shape", "ellipsoid prior", "constant null depth", "average depth",
        "supervised depth net")


def gan_workdir(config, workdir: str) -> str:
  """The stylegan2 workdir the job reads, checked to hold GAN_FILES; "" trains the stylegan2
  job's runlocal config into workdir/gan (once)."""
  path = config.gan_workdir
  if not path:
    path = os.path.join(workdir, "gan")
    if not all(os.path.exists(os.path.join(path, f)) for f in GAN_FILES):
      from configs import stylegan2 as stylegan2_config
      from inverse3d.jobs import stylegan2
      logging.info("gan2shape: training the stylegan2 runlocal GAN into %s", path)
      stylegan2.run(stylegan2_config.get_config(f"runlocal,dataset={config.dataset}"), path)
  missing = [f for f in GAN_FILES if not os.path.exists(os.path.join(path, f))]
  if missing:
    raise ValueError(f"config.gan_workdir: expected a stylegan2 job's workdir with "
                     f"{', '.join(GAN_FILES)}, got {path!r} lacking {', '.join(missing)}")
  return path


def held_out(path: str, n: int) -> dict:
  """The last ``n`` test renders of a stylegan2 workdir: images (n, R, R, 3) in [0, 1],
  depth (n, R, R), mask (n, R, R) float."""
  with np.load(os.path.join(path, "data", "test.npz")) as f:
    test = {k: f[k] for k in ("images", "depth", "mask")}
  total = len(test["images"])
  if not 0 < n <= total:
    raise ValueError(f"config.eval.images: expected 1..{total} (the test split of "
                     f"{path}), got {n}")
  return {"images": test["images"][-n:].astype(np.float32) / 255.0,
          "depth": test["depth"][-n:].astype(np.float32),
          "mask": test["mask"][-n:].astype(np.float32)}


def labelled_renders(config, workdir: str, resolution: int) -> dict:
  """config.labelled.n renders with depth and mask (train split of face_image_splits with
  config.labelled.seed), drawn once into workdir/labelled_S_N.npz; images float in [0, 1]."""
  lc = config.labelled
  path = os.path.join(workdir, f"labelled_{lc.seed}_{lc.n}.npz")
  if not os.path.exists(path):
    splits = data.face_image_splits(lc.seed, lc.n, 1, size=resolution, chunk=256,
                                    face_model=data.face_model_of(config.dataset, config.data_dir))
    save_tree(path, {k: splits["train"][k] for k in ("images", "depth", "mask")})
  out = load_tree(path)
  return {**out, "mask": out["mask"].astype(np.float32)}


def cached(path: str, train):
  """load_tree(path) if it exists, else ``train()`` saved there."""
  if os.path.exists(path):
    return load_tree(path)
  params = train()
  save_tree(path, params)
  return params


def reconstruct_batches(config, workdir: str, gan: dict, images, masks, key) -> list[dict]:
  """reconstruct() on each config.eval.batch images, each checkpointed in its own
  batches/batch_XX; a finished batch is read back from its result.npz."""
  out = []
  for b, start in enumerate(range(0, len(images), config.eval.batch)):
    folder = os.path.join(workdir, "batches", f"batch_{b:02d}")
    path = os.path.join(folder, "result.npz")
    if os.path.exists(path):
      logging.info("gan2shape: batch %d finished before, read back", b)
      out.append(load_tree(path))
      continue
    stop = start + config.eval.batch
    result = reconstruct(images[start:stop], gan, config.method, jax.random.fold_in(key, b),
                         masks=masks[start:stop], workdir=folder)
    save_tree(path, result)
    out.append(result)
  return out


def merge(batches: list[dict]) -> dict:
  """The batches' arrays joined along the images; "rates" {step: steps/s} averaged over the
  batches, "seconds" (one per batch)."""
  arrays = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]
            if k not in ("rates", "seconds")}
  rates = {k: float(np.mean([b["rates"][k] for b in batches])) for k in batches[0]["rates"]}
  return {**arrays, "rates": rates, "seconds": [float(b["seconds"]) for b in batches]}


def score(depths: dict, test: dict) -> tuple[list[dict], dict]:
  """Rows {name, side_mean, side_std, mad_mean, mad_std, n_images} and per image scores
  {name: {"side": (n,), "mad": (n,)}} of each depth (n, R, R) against the test split."""
  rows, per_image = [], {}
  for name, depth in depths.items():
    s = np.asarray(side(depth, test["depth"], test["mask"]))
    m = np.asarray(mad(depth, test["depth"], test["mask"]))
    per_image[name] = {"side": s, "mad": m}
    (sm, ss), (mm, ms) = mean_std(s), mean_std(m)
    rows.append({"name": name, "side_mean": sm, "side_std": ss, "mad_mean": mm, "mad_std": ms,
                 "n_images": len(s)})
  return rows, per_image


def iou(a, b):
  """Intersection over union (n,) of boolean masks (n, R, R)."""
  return (a & b).sum((1, 2)) / np.maximum((a | b).sum((1, 2)), 1)


def table(rows: list[dict]) -> str:
  lines = [f"{'method':<22} {'SIDE x 100':>16} {'MAD (deg)':>16}"]
  lines += [f"{r['name']:<22} {100 * r['side_mean']:7.3f} +- {100 * r['side_std']:5.3f} "
            f"{r['mad_mean']:7.2f} +- {r['mad_std']:5.2f}" for r in rows]
  return "\n".join(lines)


def write_outputs(workdir: str, result: dict, test: dict, per_image: dict) -> dict:
  """figures/image_XX.png, meshes/image_XX.obj and metrics.jsonl; their paths."""
  shown = renders(result)
  metrics = MetricsWriter(workdir, fresh=True)
  figures, meshes = [], []
  for i in range(len(result["depth"])):
    scores = {name: {k: float(v[i]) for k, v in s.items()} for name, s in per_image.items()}
    metrics.write(image=i, **scores)
    g = scores["gan2shape"]
    title = (f"image {i}: gan2shape SIDE x 100 {100 * g['side']:.2f}, MAD {g['mad']:.1f} deg"
             f" (prior {100 * scores['ellipsoid prior']['side']:.2f}, "
             f"{scores['ellipsoid prior']['mad']:.1f})")
    figures.append(save_figure(
        image_figure(result, i, test["images"][i], test["depth"][i], test["mask"][i], shown,
                     title), os.path.join(workdir, "figures", f"image_{i:02d}.png")))
    path = os.path.join(workdir, "meshes", f"image_{i:02d}.obj")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    export_obj(path, result, i)
    meshes.append(path)
  return {"figures": [os.path.relpath(p, workdir) for p in figures],
          "meshes": [os.path.relpath(p, workdir) for p in meshes]}


def run(config, workdir: str) -> dict:
  ec = config.eval
  if not 0 < ec.batch:
    raise ValueError(f"config.eval.batch: expected a positive number of images, got {ec.batch}")
  path = gan_workdir(config, workdir)
  gan = load_gan(path)
  test = held_out(path, ec.images)
  resolution = test["images"].shape[1]
  labelled = labelled_renders(config, workdir, resolution)
  k_mask, k_depth, k_batches = jax.random.split(jax.random.key(config.seed), 3)
  mc, sc = config.mask, config.supervised
  mask_params = cached(os.path.join(workdir, "mask_net.npz"), lambda: train_mask_net(
      labelled["images"], labelled["mask"], mc.steps, mc.batch, k_mask, lr=mc.lr))
  masks = np.asarray(predict_mask(mask_params, test["images"]))
  depth_params = cached(os.path.join(workdir, "depth_net.npz"), lambda: train_depth_net(
      labelled["images"], labelled["depth"], sc.steps, sc.batch, k_depth, lr=sc.lr,
      nf=sc.nf, zdim=sc.zdim))
  result = merge(reconstruct_batches(config, workdir, gan, test["images"], masks, k_batches))
  shape = test["depth"].shape
  rows, per_image = score({
      "gan2shape": result["depth"], "ellipsoid prior": result["prior_depth"],
      "constant null depth": np.ones(shape, np.float32),
      "average depth": np.broadcast_to(labelled["depth"].mean(0), shape),
      "supervised depth net": predict_depth(depth_params, test["images"])}, test)
  n = len(test["images"])
  timings = {"minutes_per_image": sum(result["seconds"]) / n / 60.0,
             "steps_per_second": result["rates"], "batch_seconds": result["seconds"],
             "images_per_batch": ec.batch}
  summary = {"dataset": config.dataset, "gan_workdir": path, "rows": rows, "timings": timings,
             "mask_iou": float(np.mean(iou(masks > 0.5, test["mask"] > 0.5))),
             **write_outputs(workdir, result, test, per_image)}
  write_json(os.path.join(workdir, "results.json"), summary)
  print(f"gan2shape on {n} held-out {config.dataset} test renders "
        f"({resolution}x{resolution}, {config.gan_workdir or 'runlocal GAN'}):")
  print(table(rows))
  print(f"{timings['minutes_per_image']:.2f} minutes per image; steps/s "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["rates"].items()))
  return summary
