"""Datasets: procedural faces and objects, real-data readers, dataset images, TFDS builders."""
from inverse3d.data.paths import resolve_data_path, shared_data_dir
