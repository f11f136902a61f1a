"""Datasets: procedural faces and objects, real-data readers, dataset images, TFDS builders."""
from inverse3d.data.paths import resolve_data_path, shared_data_dir
from inverse3d.data.face_model import (FaceModel, procedural_face_model, procedural_faces,
                                       sample_faces)
from inverse3d.data.face_readers import face_model_of, load_face_model
from inverse3d.data.face_images import (canonical_face_maps, face_image_splits,
                                        procedural_face_images)
from inverse3d.data.binvox import read_binvox, write_binvox
from inverse3d.data.images import load_image_folder
from inverse3d.data.mesh_io import read_off, voxelize_mesh
from inverse3d.data.modelnet import MODELNET10_CLASSES, load_modelnet10
from inverse3d.data.objects import OBJECT_CLASSES, procedural_objects
from inverse3d.data.views import (FACE_YAWS, OBJECT_VIEW_ANGLES, render_face_views,
                                  render_voxel_views)
from inverse3d.data.tfds_builders import DATASETS, build_dataset, dataset_dir, load_dataset
