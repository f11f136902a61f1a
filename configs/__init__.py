"""Experiment configs, one file per experiment (``get_config(arg)``), and the helpers they share:
:mod:`configs.common` (the arg parser) and :mod:`configs.mapping_configs` (the deep mapping
experiments' pieces)."""
