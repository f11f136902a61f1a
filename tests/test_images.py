import numpy as np
import pytest
from PIL import Image

from inverse3d.data.images import list_images, load_image_folder, read_image


def _rgb(width, height, seed):
  return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _block_mean(pixels, k):
  h, w, c = pixels.shape
  return pixels.reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


@pytest.fixture
def folder(tmp_path):
  """Two people, LFW-style: b/b_1.png (12x8), a/a_1.png (8x8), a/a_2.jpg (16x16)."""
  for sub in ("a", "b"):
    (tmp_path / sub).mkdir()
  Image.fromarray(_rgb(12, 8, 0)).save(tmp_path / "b" / "b_1.png")
  Image.fromarray(_rgb(8, 8, 1)).save(tmp_path / "a" / "a_1.png")
  Image.fromarray(np.full((16, 16, 3), (200, 100, 50), np.uint8)).save(tmp_path / "a" / "a_2.jpg",
                                                                        quality=95)
  (tmp_path / "notes.txt").write_text("not an image")
  return tmp_path


def test_sorted_recursive_listing(folder):
  names = [p.relative_to(folder).as_posix() for p in list_images(folder)]
  assert names == ["a/a_1.png", "a/a_2.jpg", "b/b_1.png"]


def test_center_crop_and_area_resize_rgb(folder):
  images = load_image_folder(folder, size=4, grayscale=False)
  assert images.shape == (3, 4, 4, 3) and images.dtype == np.float32
  assert images.min() >= 0 and images.max() <= 1
  # b_1 is 12 wide and 8 high: the centre 8x8 square (columns 2..9), averaged over 2x2 blocks
  # (Pillow rounds in 8-bit fixed point: within 1/255; a wrong crop would be off by ~0.3).
  source = _rgb(12, 8, 0)[:, 2:10].astype(np.float64)
  np.testing.assert_allclose(images[2], _block_mean(source, 2) / 255, atol=1.01 / 255)
  np.testing.assert_allclose(images[0], _block_mean(_rgb(8, 8, 1).astype(float), 2) / 255,
                             atol=1.01 / 255)
  # JPEG is lossy: a flat colour comes back close to itself.
  np.testing.assert_allclose(images[1], np.broadcast_to([200 / 255, 100 / 255, 50 / 255],
                                                        (4, 4, 3)), atol=0.02)


def test_grayscale_uses_itu_601_luma(folder):
  gray = read_image(folder / "a" / "a_1.png", size=8, grayscale=True)
  assert gray.shape == (8, 8, 1)
  luma = _rgb(8, 8, 1).astype(np.float64) @ [0.299, 0.587, 0.114]
  np.testing.assert_allclose(gray[..., 0], luma / 255, atol=1.01 / 255)


def test_max_images_and_upscaling(folder):
  images = load_image_folder(folder, size=32, max_images=2)
  assert images.shape == (2, 32, 32, 1)


def test_missing_or_empty_folder_says_where_to_get_lfw(tmp_path):
  with pytest.raises(FileNotFoundError, match="path: expected a folder") as info:
    load_image_folder(tmp_path / "no_such_folder")
  assert "vis-www.cs.umass.edu/lfw" in str(info.value)
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="with none") as info:
    load_image_folder(tmp_path / "empty")
  assert "lfw" in str(info.value)


def test_unreadable_image_names_the_file(folder):
  (folder / "b" / "b_2.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
  with pytest.raises(ValueError, match="b_2.jpg: expected a readable PNG/JPEG"):
    load_image_folder(folder)


def test_bad_arguments(folder):
  with pytest.raises(ValueError, match=r"size: expected an integer in \[1, 4096\], got 0"):
    load_image_folder(folder, size=0)
  with pytest.raises(ValueError, match="max_images"):
    load_image_folder(folder, max_images=0)


def test_size_is_checked_before_reading(folder):
  with pytest.raises(ValueError, match=r"^size: expected an integer in \[1, 4096\], got 1000000 "
                                       r"\(the images take N \* size\^2 \* channels \* 4 bytes\)"):
    load_image_folder(folder, size=10 ** 6)
