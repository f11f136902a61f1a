"""Config pieces shared by the deep representation-mapping experiments (configs/deep_*.py).

Every deep config is one ``train`` job (:mod:`inverse3d.jobs.train`) over one paired dataset,
training one or more *runs*. ``config.model`` and ``config.train`` come from
:func:`inverse3d.mapping.defaults.default_config` (the schema); ``config.runs.<name>`` holds what
a run changes: whole ``model`` fields (component specs are replaced, never merged), whole
``train`` fields, and ``pca_init``::

    config.runs.ff_conv = {"model": {"image_encoder": {...}, ...}, "train": {"stages": ...},
                           "pca_init": False}

The configs parse their arg with :func:`configs.common.parse_arg`; the names of DATASET_KIND
are the choices of their ``dataset``.
"""
from __future__ import annotations

import ml_collections

from inverse3d.models.alexnet import INPUT_SHAPE as ALEXNET_INPUT
from inverse3d.mapping.defaults import TABLE1, default_config

DATASET_KIND = {"procedural_faces": "points", "ict_faces": "points",
                "procedural_objects": "voxels", "modelnet10": "voxels"}
# Face vertex counts depend on the mesh the dataset builds, so configs leave them to the job.
SHAPE_SHAPE = {"points": (None, 3), "voxels": (30, 30, 30)}
SLOTS = ("image_encoder", "image_decoder", "mapping", "shape_encoder", "shape_decoder")
AUTOENCODERS = {"image_ae": ("image_encoder", "image_decoder"),
                "shape_ae": ("shape_encoder", "shape_decoder")}
# Small AlexNet widths for 2-core CPU runs (the paper's are registry.FIELDS["alexnet"]).
SMALL_ALEXNET = {"channels": (16, 48, 96, 64, 64), "fc": (256, 256)}


def pretrained_stages(model, pca_init: bool) -> tuple:
  """The four stages, without each autoencoder stage whose two components are hidden-less
  linear and set from PCA (``pca_init``): PCA is already that autoencoder's optimum (sec. 4.1)."""
  def from_pca(slot):
    spec = model[slot]
    return pca_init and spec["name"] == "linear" and not tuple(spec.get("hidden", ()))
  return tuple(stage for stage in ("image_ae", "shape_ae", "mapping", "finetune")
               if stage not in AUTOENCODERS or not all(map(from_pca, AUTOENCODERS[stage])))


def choice(dataset: str, image_encoder: str = "linear", mapping: str = "ff",
           shape_decoder: str = "linear", pca_init: bool = True,
           alexnet: dict | None = None) -> ml_collections.ConfigDict:
  """What a run changes for one choice of components: ``model`` (the five component specs from
  default_config, image_shape and recon_shape), ``train.stages`` and ``pca_init``.
  ``alexnet``: width fields for an "alexnet" image encoder."""
  kind = DATASET_KIND[dataset]
  image_shape = ALEXNET_INPUT if image_encoder == "alexnet" else (32, 32, 1)
  model = default_config(kind, shape_shape=SHAPE_SHAPE[kind], image_shape=image_shape,
                         image_encoder=image_encoder, mapping=mapping,
                         shape_decoder=shape_decoder).model
  if image_encoder == "alexnet":
    model.image_encoder.update(alexnet or SMALL_ALEXNET)
  varied = {k: model[k] for k in (*SLOTS, "image_shape", "recon_shape")}
  return ml_collections.ConfigDict({
      "model": varied, "train": {"stages": pretrained_stages(model, pca_init)},
      "pca_init": pca_init})


def base_config(dataset: str, runlocal: bool, **components) -> ml_collections.ConfigDict:
  """The job's config for ``dataset`` with one run "main" of the given components (see
  :func:`choice`); experiments add runs or change steps. ``runlocal`` shrinks everything to a
  seconds-long smoke run."""
  kind = DATASET_KIND[dataset]
  main = choice(dataset, **components)
  defaults = default_config(kind, shape_shape=SHAPE_SHAPE[kind])
  config = ml_collections.ConfigDict()
  config.job = "train"
  config.seed = 0
  config.data = ml_collections.ConfigDict({
      "name": dataset,
      "data_dir": "",          # real data folder; empty means ../shared/data beside the checkout
      "n_train": 4000,         # shapes (ModelNet10 keeps its official split, subsampled)
      "n_test": 1000,
      "image_size": 32,
      "face_vertices": 4000,
      "face_modes": 40,
      "views_per_shape": 3 if kind == "points" else 2,  # training pairs per shape (random views)
      "n_val": 300,            # held-out test pairs evaluated every train.eval_every steps
  })
  config.model = defaults.model
  config.model.update(main.model)
  config.train = defaults.train
  config.train.stages = main.train.stages
  config.train.steps = {"image_ae": 1500, "shape_ae": 1500, "mapping": 1500, "finetune": 1500}
  config.train.eval_every = 250
  config.train.log_every = 250
  config.pca_init = main.pca_init
  config.runs = ml_collections.ConfigDict({"main": {}})
  # Closed-form rows fitted on the same data (Table 2's low-dim LS and direct LS).
  config.closed_form = ml_collections.ConfigDict({
      "k_image": TABLE1[kind]["image_code"], "k_shape": TABLE1[kind]["shape_code"],
      "ridge": 0.0})
  config.figure_samples = 4
  # The launcher makes malloc keep freed memory (inverse3d.host_memory): XLA:CPU's training
  # steps stop page-faulting their buffers in afresh (a conv Fig. 9 job: 146 -> 122 s, peak
  # RSS +4%).
  # Not for the closed-form jobs, whose varied large arrays would fragment the kept heap.
  config.keep_freed_memory = True
  if runlocal:
    shrink(config)
  return config


def shrink(config) -> None:
  """Makes ``config`` a seconds-long smoke run: tiny data, codes and one step per stage."""
  config.data.update({"n_train": 24, "n_test": 8, "face_vertices": 300, "face_modes": 8,
                      "n_val": 8})
  config.train.update({"batch_size": 8, "eval_every": 0, "log_every": 1,
                       "checkpoint_every": 1})
  config.train.steps = {"image_ae": 1, "shape_ae": 1, "mapping": 1, "finetune": 1}
  config.model.update({"image_code": 8, "shape_code": 8})
  config.closed_form.update({"k_image": 8, "k_shape": 8})
  config.figure_samples = 2
