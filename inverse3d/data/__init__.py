"""Datasets: procedural faces and objects, real-data readers, dataset images, TFDS builders."""
from inverse3d.data.paths import resolve_data_path, shared_data_dir
from inverse3d.data.face_model import (FaceModel, procedural_face_model, procedural_faces,
                                       sample_faces)
from inverse3d.data.face_readers import load_face_model
