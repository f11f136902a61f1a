"""Folders of photographs (e.g. LFW, the unlabeled 2D images of the representation-mapping paper).

LFW ("Labeled Faces in the Wild", 13233 JPEGs of 250x250 in one sub-folder per person) comes
from http://vis-www.cs.umass.edu/lfw/ (lfw.tgz). Extract it anywhere and pass the folder, or put
it at shared/data/lfw (relative paths are taken inside the shared data folder).
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inverse3d.checks import check_positive_int
from inverse3d.data.paths import resolve_data_path
from inverse3d.progress import Progress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SIZE = 4096
"""Largest output side of ``load_image_folder``."""
_LFW_HINT = ("Unlabeled face images such as LFW come from http://vis-www.cs.umass.edu/lfw/ "
             "(download lfw.tgz and extract it); pass the extracted folder as path, or put it "
             "at shared/data/lfw beside the checkout (or under $INVERSE3D_DATA) and pass "
             "path='lfw'.")


def list_images(path) -> list[pathlib.Path]:
  """PNG/JPEG files under ``path`` (recursively), sorted by their path relative to it.

  Raises FileNotFoundError (no such folder) or ValueError (no images), both saying where LFW
  can be obtained.
  """
  folder = resolve_data_path(path)
  if not folder.is_dir():
    raise FileNotFoundError(f"path: expected a folder of PNG/JPEG images, got "
                            f"{os.fspath(path)!r} (looked at {folder}). {_LFW_HINT}")
  files = sorted((p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                 key=lambda p: p.relative_to(folder).as_posix())
  if not files:
    raise ValueError(f"path: expected a folder holding .png/.jpg/.jpeg images, got {folder} "
                     f"with none. {_LFW_HINT}")
  return files


def read_image(file, size: int = 32, grayscale: bool = True) -> np.ndarray:
  """One image, centre-cropped to a square and resized (area averaging, Pillow's BOX filter).

  Grayscale uses Pillow's ITU-R 601-2 luma (L = 0.299 R + 0.587 G + 0.114 B).

  Returns:
    (size, size, 1 or 3) float32 in [0, 1].
  Raises:
    ValueError naming the file if Pillow cannot read it.
  """
  try:
    with Image.open(file) as img:
      img = ImageOps.exif_transpose(img).convert("L" if grayscale else "RGB")
  except (UnidentifiedImageError, OSError, SyntaxError) as e:
    raise ValueError(f"{file}: expected a readable PNG/JPEG image, got an unreadable file "
                     f"({type(e).__name__}: {e})") from None
  width, height = img.size
  side = min(width, height)
  left, top = (width - side) // 2, (height - side) // 2
  img = img.resize((size, size), Image.Resampling.BOX, box=(left, top, left + side, top + side))
  pixels = np.asarray(img, np.float32) / 255.0
  return pixels.reshape(size, size, -1)


def load_image_folder(path, size: int = 32, grayscale: bool = True,
                      max_images: int | None = None) -> np.ndarray:
  """Loads the PNG/JPEG images under a folder (recursively, sorted by relative path).

  Args:
    path: the folder; a relative path that does not exist is taken inside the shared data
      folder.
    size: output side in pixels, at most MAX_SIZE; each image is centre-cropped to a square
      first.
    grayscale: one channel (luma) if True, else RGB.
    max_images: keep only the first ``max_images`` files (all if None).

  Returns:
    (N, size, size, 1 or 3) float32 in [0, 1].

  Raises:
    FileNotFoundError / ValueError saying where LFW can be obtained when the folder is missing
    or holds no images; ValueError naming the file for an unreadable image.
  """
  size = check_positive_int("size", size, maximum=MAX_SIZE,
                            hint="the images take N * size^2 * channels * 4 bytes")
  files = list_images(path)
  if max_images is not None:
    files = files[:check_positive_int("max_images", max_images)]
  images = np.empty((len(files), size, size, 1 if grayscale else 3), np.float32)
  progress = Progress("load_image_folder", total=len(files), unit="images")
  for i, file in enumerate(files):
    images[i] = read_image(file, size, grayscale)
    progress.update()
  progress.close()
  return images
