"""A complete framework config with the paper's Table 1 sizes and section 5.2 training settings.

Experiment configs start here and override what they vary::

    config = default_config("points", shape_shape=(V, 3), mapping="ff", shape_decoder="linear")
    config.train.steps.mapping = 5000
"""
from __future__ import annotations

import ml_collections

from inverse3d.checks import check_choice

# Table 1: code sizes and hidden widths of the FF components (linear mappings keep their
# 100-wide hidden layer: 60-100-98 and 60-100-400), for faces as point clouds and objects as
# voxel grids. The closed-form configs (Table 2) take their code sizes from here too.
TABLE1 = {
    "points": {"image_code": 60, "shape_code": 98, "image_hidden": (100,),
              "mapping_hidden": (100,), "shape_hidden": (200,)},
    "voxels": {"image_code": 60, "shape_code": 400, "image_hidden": (100,),
                "mapping_hidden": (100,), "shape_hidden": (800,)},
}


def component(name: str, hidden: tuple, out_activation: str | None = None,
              mapping: bool = False) -> dict:
  """A component spec: Table 1's hidden widths for "ff", ``out_activation`` for ff/conv
  decoders (None for encoders and mappings), and for conv encoders and decoders (not
  ``mapping``) ``impl`` "auto", there so that a flag can force it
  (``--config.model.shape_decoder.impl=native``)."""
  spec = {"name": name}
  if name == "ff":
    spec["hidden"] = hidden
  if name in ("ff", "conv") and out_activation:
    spec["out_activation"] = out_activation
  if name == "conv" and not mapping:
    spec["impl"] = "auto"
  return spec


def default_config(kind: str = "points", shape_shape: tuple = (6706, 3),
                   image_shape: tuple = (32, 32, 1), image_encoder: str = "linear",
                   mapping: str = "ff", shape_decoder: str = "linear",
                   ) -> ml_collections.ConfigDict:
  """seed, model (see :mod:`inverse3d.mapping.registry`) and train (see
  :func:`inverse3d.mapping.loop.train`); ``kind`` "points" (faces) or "voxels" (objects) picks
  Table 1's sizes.

  The autoencoders mirror their encoder/decoder kind (an "alexnet" image encoder pairs with an
  FF image decoder reconstructing 32x32 images). Voxel decoders other than linear end in a
  sigmoid. Training: Adam, 1e-3 for half of each stage then 1e-5, batch 40 (section 5.2).
  """
  check_choice("kind", kind, sorted(TABLE1))
  sizes = TABLE1[kind]
  voxel_out = "sigmoid" if len(shape_shape) == 3 else "identity"
  image_decoder = "ff" if image_encoder == "alexnet" else image_encoder
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = ml_collections.ConfigDict({
      "image_shape": tuple(image_shape),
      "shape_shape": tuple(shape_shape),
      "recon_shape": (32, 32, image_shape[-1]) if image_encoder == "alexnet" else None,
      "image_code": sizes["image_code"],
      "shape_code": sizes["shape_code"],
      "image_encoder": component(image_encoder, sizes["image_hidden"]),
      "image_decoder": component(image_decoder, sizes["image_hidden"], "sigmoid"),
      "mapping": component(mapping, sizes["mapping_hidden"], mapping=True),
      "shape_encoder": component(shape_decoder, sizes["shape_hidden"]),
      "shape_decoder": component(shape_decoder, sizes["shape_hidden"], voxel_out),
  })
  if mapping == "linear":
    config.model.mapping.hidden = sizes["mapping_hidden"]
  config.train = ml_collections.ConfigDict({
      "stages": ("image_ae", "shape_ae", "mapping", "finetune"),
      "steps": {"image_ae": 2000, "shape_ae": 2000, "mapping": 2000, "finetune": 2000},
      "batch_size": 40,
      "labeled_fraction": 1.0,
      "mapping_target": "code",
      "optimizer": {"name": "adam", "learning_rate": 1e-3, "schedule": "piecewise",
                    "boundaries": (0.5,), "scales": (0.01,), "momentum": 0.9,
                    "weight_decay": 1e-4, "clip_norm": 0.0},
      "log_every": 100,
      "eval_every": 0,
      "checkpoint_every": 500,
      "keep_checkpoints": 2,
  })
  return config
