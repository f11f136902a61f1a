"""Face images with ground truth (inverse3d.data.face_images): renders, splits, TFDS, figure.

Every render here uses one setting (a 600-vertex model, 32x32, chunks of 16), so the renderer
compiles once for the whole file.
"""
import jax
import numpy as np
import pytest
from PIL import Image

from inverse3d import data
from inverse3d.data.face_images import DEFAULT_RANGES
from inverse3d.data.tfds_builders import build_dataset, load_dataset
from inverse3d.eval.figures import face_images_figure
from inverse3d.files import save_figure
from inverse3d.render import DEPTH_RANGE

SIZE, CHUNK = 32, 16


@pytest.fixture(scope="module")
def model():
  return data.procedural_face_model(600, 10)


@pytest.fixture(scope="module")
def samples(model):
  return data.procedural_face_images(jax.random.key(0), 2 * CHUNK, SIZE, face_model=model,
                                     chunk=CHUNK)


def _best_threshold_error(values, labels):
  """Smallest fraction of pixels misclassified by one threshold on ``values`` (either side)."""
  order = np.argsort(values)
  fg = labels[order].astype(np.float64)
  # Predicting foreground above position i: errors = fg at or below i + bg above i.
  below_fg = np.concatenate([[0], np.cumsum(fg)])
  above_bg = np.concatenate([[0], np.cumsum((1 - fg)[::-1])])[::-1]
  errors = (below_fg + above_bg) / len(fg)
  return min(errors.min(), (1 - errors).min())


def test_shapes_dtypes_and_ranges(samples):
  n = 2 * CHUNK
  assert samples["images"].shape == (n, SIZE, SIZE, 3) and samples["images"].dtype == np.float32
  assert samples["depth"].shape == (n, SIZE, SIZE) and samples["depth"].dtype == np.float32
  assert samples["mask"].shape == (n, SIZE, SIZE) and samples["mask"].dtype == bool
  assert samples["view"].shape == (n, 6) and samples["light"].shape == (n, 4)
  assert 0.0 <= samples["images"].min() and samples["images"].max() <= 1.0
  assert DEPTH_RANGE[0] <= samples["depth"].min() and samples["depth"].max() <= DEPTH_RANGE[1]
  coverage = samples["mask"].mean((1, 2))
  assert 0.1 < coverage.min() and coverage.max() < 0.6
  angles = np.rad2deg(samples["view"][:, :3])
  np.testing.assert_array_equal(samples["view"][:, 3:], 0.0)
  for column, name in enumerate(("pitch_deg", "yaw_deg", "roll_deg")):
    low, high = DEFAULT_RANGES[name]
    assert low - 1e-4 <= angles[:, column].min() and angles[:, column].max() <= high + 1e-4
  for column, name in enumerate(("ambient", "diffuse", "light_dx", "light_dy")):
    low, high = DEFAULT_RANGES[name]
    assert low <= samples["light"][:, column].min() <= samples["light"][:, column].max() <= high


def test_deterministic_from_the_key_and_keys_differ(samples, model):
  first, second = (data.procedural_face_images(jax.random.key(1), CHUNK, SIZE, face_model=model)
                   for _ in range(2))
  for name in first:
    np.testing.assert_array_equal(first[name], second[name])
  assert not np.allclose(first["images"], samples["images"][:CHUNK])
  assert not np.allclose(first["view"], samples["view"][:CHUNK])


def test_yaws_span_the_range_and_are_what_was_rendered(samples):
  yaw = np.rad2deg(samples["view"][:, 1])
  assert yaw.min() < -28 and yaw.max() > 28
  # Turning the face about the rotation centre (in front of its rim) swings the rim, and with it
  # the silhouette, away from the side the nose turns to: a positive yaw (nose to the image's
  # right) moves the mask's centroid left of where the frontal faces have it.
  columns = np.arange(SIZE)
  centroid = (samples["mask"].sum(1) * columns).sum(1) / samples["mask"].sum((1, 2))
  frontal = np.abs(yaw) < 5
  assert frontal.sum() >= 2
  centre = centroid[frontal].mean()
  turned = np.abs(yaw) > 10
  assert turned.sum() >= 16
  np.testing.assert_array_equal(np.sign(centroid[turned] - centre), -np.sign(yaw[turned]))
  assert np.corrcoef(yaw, centroid)[0, 1] < -0.8


def test_mask_is_where_depth_is_nearer_than_the_background(samples):
  mask, depth = samples["mask"], samples["depth"]
  assert np.all(depth[~mask] == DEPTH_RANGE[1])
  assert np.all(depth[mask] < DEPTH_RANGE[1] - 0.02) and np.all(depth[mask] > 0.92)
  # A smooth surface: neighbouring face pixels differ little in depth (the most at the steep
  # sides of turned faces).
  steps = np.abs(np.diff(depth, axis=1))[mask[:, 1:, :] & mask[:, :-1, :]]
  assert np.median(steps) < 0.005 and steps.max() < 0.05


def test_background_is_not_separable_by_one_threshold(samples):
  errors = np.array([[_best_threshold_error(image[..., c].ravel(), mask.ravel())
                      for c in range(3)] for image, mask in zip(samples["images"],
                                                                samples["mask"])])
  best = errors.min(1)  # the best channel of each image
  assert np.mean(best > 0.05) >= 0.5, best
  # The background varies: no flat colour.
  background = samples["images"][~samples["mask"]]
  assert background.std(0).min() > 0.05


def test_splits_are_separated_by_key_and_tfds_round_trips(tmp_path, model):
  options = dict(seed=2, train=CHUNK, test=CHUNK, size=SIZE, num_vertices=600, num_modes=10)
  build_dataset("procedural_face_images", tmp_path, **options)
  want = data.face_image_splits(2, CHUNK, CHUNK, size=SIZE, face_model=model)
  for split in ("train", "test"):
    source = load_dataset("procedural_face_images", tmp_path, split, **options)
    examples = [source[i] for i in range(len(source))]
    assert len(examples) == CHUNK and examples[0]["image"].dtype == np.uint8
    got = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
    np.testing.assert_array_equal(got["image"], np.round(want[split]["images"] * 255))
    for name in ("depth", "mask", "view", "light"):
      np.testing.assert_array_equal(got[name], want[split][name])
  assert not np.allclose(want["train"]["view"], want["test"]["view"])


def test_figure_draws_image_depth_and_mask(tmp_path, samples):
  six = {k: v[:6] for k, v in samples.items()}
  path = save_figure(face_images_figure(six, rows=2), tmp_path / "grid.png")
  picture = np.asarray(Image.open(path).convert("RGB"))
  assert picture.shape[0] > 150 and picture.shape[1] > 500 and picture.std() > 20
  with pytest.raises(ValueError, match="rows: expected an integer in \\[1, 6\\], got 7"):
    face_images_figure(six, rows=7)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n: expected an integer >= 1, got 0"),
    (dict(size=8), "size: expected an integer in \\[16, 512\\], got 8"),
    (dict(size=1000), "size: expected an integer in \\[16, 512\\], got 1000"),
    (dict(yaw_deg=(40, -40)), "yaw_deg: expected finite \\(low, high\\) with low <= high"),
    (dict(pitch_deg=(float("nan"), 10)), "pitch_deg: expected finite .* got \\(nan, 10.0\\)"),
    (dict(ambient=(-0.1, 0.5)), "ambient: expected finite \\(low, high\\) .* in \\[0, 2\\]"),
    (dict(light_dx=0.5), "light_dx: expected a pair of numbers \\(low, high\\), got 0.5"),
    (dict(face_fill=1.5), "face_fill: expected values in \\(0.0, 1.0\\)"),
    (dict(chunk=0), "chunk: expected an integer >= 1, got 0"),
])
def test_bad_arguments_are_named(kwargs, message):
  kwargs = dict(dict(n=2, size=SIZE), **kwargs)
  with pytest.raises(ValueError, match=message):
    data.procedural_face_images(jax.random.key(0), **kwargs)


def test_bad_split_sizes_are_named():
  with pytest.raises(ValueError, match="n_test: expected an integer >= 1, got 0"):
    data.face_image_splits(0, 2, 0, size=SIZE)
