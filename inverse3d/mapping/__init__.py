"""Representation mapping (Kamyab & Azimifar): 2D encoder -> mapping -> 3D decoder.

    image x --image_encoder--> y (k) --mapping--> b (k') --shape_decoder--> shape z

- ``framework``: the :class:`Framework` module (both autoencoders and the mapping, sec. 3-4);
- ``registry``: ``build_model(config.model)`` picks each component by name (Table 1);
- ``defaults``: ``default_config`` and ``TABLE1``, the paper's sizes and training settings;
- ``stages``: the four stages (2D AE, 3D AE, mapping, fine-tuning) and their losses (eq. 12);
- ``loop``: ``train(config, workdir, data)`` runs the stages on the core (:mod:`inverse3d.train`);
- ``data``: paired datasets as the loop's arrays; ``scores``: test scores and the closed-form
  rows (:mod:`inverse3d.linear`, eqs 2-11) fitted on the same pairs.
"""
from inverse3d.mapping.defaults import TABLE1, default_config
from inverse3d.mapping.framework import (COMPONENTS, Framework, init_from_pca, init_params,
                                         resize_images)
from inverse3d.mapping.loop import evaluate, stage_plan, train
from inverse3d.mapping.registry import build_component, build_model
from inverse3d.mapping.stages import (STAGES, TRAINABLE, labeled_rows, rmse_of_mse,
                                      stage_error_fn, stage_step)
