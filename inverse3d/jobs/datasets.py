"""The datasets job: generate or read every dataset and draw image views beside each 3D shape."""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import logging

from inverse3d import data
from inverse3d.eval import figures as eval_figures
from inverse3d.eval import plots
from inverse3d.files import dumps_json, save_figure, write_json


def _views_figure(columns: list, draw_shape, title: str):
  """One row per sample: the image columns, then its 3D shape.

  columns: [(header, images (N, s, s[, 3]))]; draw_shape(ax, row, is_first_row) draws the shape.
  """
  n = len(columns[0][1])
  cols = len(columns) + 1
  fig, axes = plots.figure_grid(n, cols, three_d_cols=(cols - 1,))
  for r in range(n):
    for c, (header, images) in enumerate(columns):
      plots.show_image(axes[r, c], images[r], header if r == 0 else "")
    draw_shape(axes[r, -1], r, r == 0)
  fig.suptitle(title)
  return fig


def _draw_faces(faces, config, title, path):
  n = config.rows
  gray = faces["albedo"][:n].mean(-1)
  images = data.render_face_views(faces["points"][:n], gray, data.FACE_YAWS,
                                  size=config.image_size, triangles=faces.get("triangles"))
  colour = data.render_face_views(faces["points"][:n], faces["albedo"][:n], (0.,), size=227,
                                  triangles=faces.get("triangles"))
  columns = [(f"yaw {yaw:+.0f}", np.asarray(images)[:, a]) for a, yaw in enumerate(data.FACE_YAWS)]
  columns.append(("227x227 colour", np.asarray(colour)[:, 0]))

  def draw_points(ax, r, first):
    plots.plot_points(ax, faces["points"][r], title="3D points" if first else "")
  return save_figure(_views_figure(columns, draw_points, title), path)


def _draw_objects(voxels, labels, config, title, path):
  images = data.render_voxel_views(voxels, data.OBJECT_VIEW_ANGLES, size=config.image_size)
  columns = [(f"{angle:.0f} deg", np.asarray(images)[:, a])
             for a, angle in enumerate(data.OBJECT_VIEW_ANGLES)]

  def draw_voxels(ax, r, first):
    plots.plot_voxels(ax, np.asarray(voxels[r]), title=data.OBJECT_CLASSES[int(labels[r])])
  return save_figure(_views_figure(columns, draw_voxels, title), path)


def run(config, workdir: str) -> dict:
  """Draws each dataset to ``workdir/figures/datasets_*.png``, builds the procedural TFDS
  datasets under ``workdir/tfds``, writes ``datasets.json``."""
  key_faces, key_objects, key_ict = jax.random.split(jax.random.key(config.seed), 3)
  figures = os.path.join(workdir, "figures")
  summary = {}

  faces = data.procedural_faces(key_faces, config.rows, num_vertices=config.face_vertices,
                                num_modes=config.face_modes)
  faces = jax.tree.map(np.asarray, faces)
  summary["procedural_faces"] = {
      "vertices": int(faces["points"].shape[1]),
      "figure": _draw_faces(faces, config, "Procedural faces",
                            os.path.join(figures, "datasets_procedural_faces.png"))}

  # A key of its own (not a fourth split), so the other datasets' samples stay as they were.
  key_images = jax.random.fold_in(jax.random.key(config.seed), 3)
  model = data.procedural_face_model(config.face_vertices, config.face_modes)
  summary["procedural_face_images"] = _draw_face_images(
      key_images, model, config, "Procedural face images",
      os.path.join(figures, "datasets_procedural_face_images.png"))

  # One object of each class first, so every class is drawn.
  classes = [data.OBJECT_CLASSES[i % 10] for i in range(max(config.rows, 10))]
  objects = data.procedural_objects(key_objects, len(classes), classes=classes)
  summary["procedural_objects"] = {
      "classes": list(data.OBJECT_CLASSES),
      "figure": _draw_objects(objects["voxels"], objects["labels"], config,
                              "Procedural objects (8 views about the vertical axis)",
                              os.path.join(figures, "datasets_procedural_objects.png"))}

  if config.include_real:
    summary.update(_draw_real(key_ict, config, figures))
  if config.image_folder:
    images = data.load_image_folder(config.image_folder, size=config.image_size)
    fig, axes = plots.figure_grid(1, min(len(images), 10))
    for ax, image in zip(axes[0], images):
      plots.show_image(ax, image)
    summary["image_folder"] = {"images": int(len(images)),
                               "figure": save_figure(fig, os.path.join(figures,
                                                                       "datasets_images.png"))}

  summary["tfds"] = _build_tfds(config, os.path.join(workdir, "tfds"))
  write_json(os.path.join(workdir, "datasets.json"), summary)
  logging.info("datasets: %s", dumps_json(summary, indent=2))
  return summary


def _draw_face_images(key, model, config, title: str, path: str) -> dict:
  """config.face_images renders of ``model``'s faces (image | depth | mask, 2 rows)."""
  samples = data.procedural_face_images(key, config.face_images, config.face_image_size,
                                        face_model=model)
  fig = eval_figures.face_images_figure(samples, rows=min(2, config.face_images), title=title)
  return {"images": config.face_images, "size": config.face_image_size,
          "coverage": float(samples["mask"].mean()), "figure": save_figure(fig, path)}


def _build_tfds(config, tfds_dir: str) -> dict:
  """Writes each of ``config.tfds_datasets`` as a TFDS array_record builder; returns the dirs."""
  built = {}
  for name in config.tfds_datasets:
    options = dict(seed=config.seed, train=config.tfds_train, test=config.tfds_test)
    if name in ("procedural_faces", "procedural_face_images"):
      options.update(num_vertices=config.face_vertices, num_modes=config.face_modes)
    if name == "procedural_face_images":
      options.update(size=config.face_image_size)
    logging.info("building TFDS %s %s", name, options)
    built[name] = data.build_dataset(name, tfds_dir, **options)
  return built


def _draw_real(key, config, figures: str) -> dict:
  """Real ModelNet10 (one shape per class) and ICT faces, when the files are there."""
  root = config.data_dir or data.shared_data_dir()
  out = {}
  modelnet_path = os.path.join(root, "modelnet10_vox30.npz")
  if os.path.exists(modelnet_path):
    modelnet = data.load_modelnet10(modelnet_path)
    labels = modelnet["test"]["labels"]
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(10)]
    out["modelnet10"] = {
        "train": int(len(modelnet["train"]["labels"])), "test": int(len(labels)),
        "figure": _draw_objects(modelnet["test"]["voxels"][first], labels[first], config,
                                "Real ModelNet10 (test split, one per class)",
                                os.path.join(figures, "datasets_modelnet10.png"))}
  else:
    logging.warning("no %s: real ModelNet10 not drawn", modelnet_path)
  ict_path = os.path.join(root, "face_model_ict.npz")
  if os.path.exists(ict_path):
    model = data.load_face_model(ict_path)
    faces = jax.tree.map(np.asarray, data.sample_faces(key, model, config.rows))
    faces["triangles"] = np.asarray(model.triangles)
    out["ict_faces"] = {
        "vertices": int(model.mean.shape[0]),
        "figure": _draw_faces(faces, config, "Real ICT face model samples",
                              os.path.join(figures, "datasets_ict_faces.png"))}
    if config.face_images_real:
      out["ict_face_images"] = _draw_face_images(
          jax.random.fold_in(key, 1), model, config, "ICT face model images",
          os.path.join(figures, "datasets_ict_face_images.png"))
  else:
    logging.warning("no %s: real ICT faces not drawn", ict_path)
  return out
