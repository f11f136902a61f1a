"""The datasets job: generate or read every dataset and draw image views beside each 3D shape."""
from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import logging

from inverse3d import data
from inverse3d.eval import plots
from inverse3d.files import atomic_write, save_figure


def _face_figure(faces: dict, images: np.ndarray, colour: np.ndarray, title: str):
  """Rows of: one image per yaw, the 227x227 colour image, the point cloud. images (N,A,s,s)."""
  n, num_views = images.shape[:2]
  cols = num_views + 2
  fig, axes = plots.figure_grid(n, cols, three_d_cols=(cols - 1,))
  for r in range(n):
    for a in range(num_views):
      plots.show_image(axes[r, a], images[r, a],
                       f"yaw {data.FACE_YAWS[a]:+.0f}" if r == 0 else "")
    plots.show_image(axes[r, num_views], colour[r, 0], "227x227 colour" if r == 0 else "")
    plots.plot_points(axes[r, -1], faces["points"][r], title="3D points" if r == 0 else "")
  fig.suptitle(title)
  return fig


def _object_figure(voxels: np.ndarray, images: np.ndarray, names, title: str):
  """Rows of: 8 views about the vertical axis, then the voxel shape. images (N, 8, s, s)."""
  n, num_views = images.shape[:2]
  cols = num_views + 1
  fig, axes = plots.figure_grid(n, cols, three_d_cols=(cols - 1,))
  for r in range(n):
    for a in range(num_views):
      plots.show_image(axes[r, a], images[r, a],
                       f"{data.OBJECT_VIEW_ANGLES[a]:.0f} deg" if r == 0 else "")
    plots.plot_voxels(axes[r, -1], voxels[r], title=names[r])
  fig.suptitle(title)
  return fig


def _draw_faces(faces, config, title, path):
  n = config.rows
  gray = faces["albedo"][:n].mean(-1)
  images = data.render_face_views(faces["points"][:n], gray, data.FACE_YAWS,
                                  size=config.image_size, triangles=faces.get("triangles"))
  colour = data.render_face_views(faces["points"][:n], faces["albedo"][:n], (0.,), size=227,
                                  triangles=faces.get("triangles"))
  return save_figure(_face_figure(faces, np.asarray(images), np.asarray(colour), title), path)


def _draw_objects(voxels, labels, config, title, path):
  images = data.render_voxel_views(voxels, data.OBJECT_VIEW_ANGLES, size=config.image_size)
  names = [data.OBJECT_CLASSES[int(l)] for l in labels]
  return save_figure(_object_figure(np.asarray(voxels), np.asarray(images), names, title), path)


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
  with atomic_write(os.path.join(workdir, "datasets.json"), "w") as f:
    json.dump(summary, f, indent=2)
  logging.info("datasets: %s", json.dumps(summary, indent=2))
  return summary


def _build_tfds(config, tfds_dir: str) -> dict:
  """Writes each of ``config.tfds_datasets`` as a TFDS array_record builder; returns the dirs."""
  built = {}
  for name in config.tfds_datasets:
    options = dict(seed=config.seed, train=config.tfds_train, test=config.tfds_test)
    if name == "procedural_faces":
      options.update(num_vertices=config.face_vertices, num_modes=config.face_modes)
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
  else:
    logging.warning("no %s: real ICT faces not drawn", ict_path)
  return out
