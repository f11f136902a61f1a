"""The mask network (inverse3d.gan2shape.mask) on tiny face renders.

One render setting (a 600-vertex model, 32x32, chunks of 32) so the renderer compiles once;
the key is rbg (its random bits compile fast).
"""
import jax
import numpy as np
import pytest

from inverse3d import data
from inverse3d import gan2shape as g2s
from inverse3d.eval.metrics import iou

SIZE = 32


@pytest.fixture(scope="module")
def renders():
  model = data.procedural_face_model(600, 10)
  return data.face_image_splits(0, 96, 32, size=SIZE, face_model=model, chunk=32)


@pytest.fixture(scope="module")
def trained(renders):
  train = renders["train"]
  return g2s.train_mask_net(train["images"], train["mask"], steps=300, batch_size=8,
                            key=jax.random.key(0, impl="rbg"), widths=(4, 8, 16))


def test_the_net_segments_held_out_renders(renders, trained):
  test = renders["test"]
  probability = np.asarray(g2s.predict_mask(trained, test["images"]))
  assert probability.shape == (32, SIZE, SIZE)
  assert 0.0 <= probability.min() and probability.max() <= 1.0
  scores = np.asarray(iou(probability, test["mask"].astype(np.float32)))
  assert scores.mean() > 0.8, scores


def test_the_architecture_is_read_from_the_params(trained):
  assert g2s.mask.widths_of(trained) == (4, 8, 16)


def test_bad_input_errors(renders, trained):
  train = renders["train"]
  images, masks = train["images"][:4], train["mask"][:4]
  key = jax.random.key(0, impl="rbg")
  with pytest.raises(ValueError, match=r"images: expected shape \(N, H, W, 3\)"):
    g2s.predict_mask(trained, images[..., :1])
  with pytest.raises(ValueError, match="images: expected H, W multiples of 4"):
    g2s.predict_mask(trained, images[:, :30, :30])
  with pytest.raises(ValueError, match=r"images: expected values in \[0.0, 1.0\]"):
    g2s.predict_mask(trained, images * 2 - 1)
  with pytest.raises(ValueError, match="masks: expected shape"):
    g2s.train_mask_net(images, masks[:3], steps=1, batch_size=2, key=key)
  with pytest.raises(ValueError, match=r"batch_size: expected an integer in \[1, 4\]"):
    g2s.train_mask_net(images, masks, steps=1, batch_size=8, key=key)
  with pytest.raises(ValueError, match="images: expected finite"):
    g2s.train_mask_net(np.where(images > 0.5, np.nan, images), masks, steps=1, batch_size=2,
                       key=key)
