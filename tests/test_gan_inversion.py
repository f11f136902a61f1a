"""GAN inversion (inverse3d.gan.inversion) on a tiny random generator.

A trained generator is not needed to check the mechanics: a random 16x16 one (its to-RGB
weights scaled down so that its images lie mostly in [-1, 1]) with its mean w set, and a random
discriminator. Every reconstruction is compared with the mean-w image, the inversions' start.
The file is sized for a loaded 2-core CPU, where compiling dominates: the random params are
drawn in NumPy at the shapes of the modules' init (as their initialisers draw them; compiling
the inits took 20 s), the images the generator did not make are NumPy drawings rather than
``procedural_face_images`` (whose renderer takes 30 s to compile), convolutions are native
(compiled several times faster than the matmul ones), and every call has the batch shape 8.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.eval.gan_inversion import inversion_scores
from inverse3d.gan import (encode_latent, invert, load_discriminator, save_tree,
                           train_latent_encoder)
from inverse3d.gan.generator import broadcast_w, generate, init_generator, map_latents
from inverse3d.gan.layers import conv_impl
from inverse3d.gan.networks import Discriminator, generator_spec
from tiny_gan import drawings, random_params

SPEC = generator_spec(16, 128, 16, style_dim=32, mapping_layers=2)  # channels (16, 16, 8)
B = 8  # images per call: 4 generator samples + 4 drawings, or 8 samples


@jax.jit
def mapped(g, z):
  return map_latents(g, z)


@jax.jit
def render(g, ws):
  """w+ (n, n_latent, D) -> images."""
  return generate(g, ws, input_is_w=True)


def render_w(g, w):
  return np.asarray(render(g, broadcast_w(g, jnp.asarray(w))))


def l1(a, b):
  """Per-image mean absolute error (n,)."""
  return np.mean(np.abs(np.asarray(a) - np.asarray(b)), axis=(1, 2, 3))


def rbg_key(seed):
  """A key whose random bits compile fast (XLA's RngBitGenerator, not threefry)."""
  return jax.random.key(seed, impl="rbg")


@pytest.fixture(scope="module", autouse=True)
def native_convolutions():
  with conv_impl("native"):
    yield


@pytest.fixture(scope="module")
def gan(native_convolutions):
  rng = np.random.default_rng(0)
  key, image = jax.random.key(0), jnp.zeros((1, 16, 16, 3))
  g = random_params(jax.eval_shape(lambda: init_generator(SPEC, key)), rng, SPEC.lr_mul)
  d = random_params(jax.eval_shape(lambda: Discriminator(SPEC.channels).init(key, image)),
                    rng)["params"]
  for name, p in g["synthesis"].items():
    if name.startswith("to_rgb"):
      p["conv"]["weight"] *= 0.3
  w = np.asarray(mapped(g, rng.standard_normal((1024, SPEC.style_dim), np.float32)))
  g["w_avg"] = w.mean(0)
  samples = np.clip(render_w(g, w[:B]), -1.0, 1.0)
  mixed = np.concatenate([samples[:B // 2], drawings(B // 2, 16, rng)])
  return dict(g=g, d=d, samples=samples, mixed=mixed,
              mean_images=render_w(g, np.broadcast_to(g["w_avg"], (B, SPEC.style_dim))))


def check_inversion(gan, out, space):
  w_shape = (B, SPEC.style_dim) if space == "w" else (B, SPEC.n_latent, SPEC.style_dim)
  assert out["w"].shape == w_shape
  assert out["images"].shape == (B, 16, 16, 3)
  curve = np.asarray(out["loss"])
  assert np.all(np.isfinite(curve)) and curve[-1] < 0.6 * curve[0], curve
  assert np.all(curve[5:] < curve[0]), curve
  # The reconstructions are those of the returned latents.
  np.testing.assert_allclose(render_w(gan["g"], out["w"]), out["images"], atol=1e-5)
  after, before = l1(out["images"], gan["mixed"]), l1(gan["mean_images"], gan["mixed"])
  for name, part in (("generator samples", slice(0, B // 2)), ("drawings", slice(B // 2, B))):
    print(f"{space} {name}: L1 after {after[part].mean():.4f}, mean-w image "
          f"{before[part].mean():.4f}")
    assert after[part].mean() < 0.8 * before[part].mean(), (name, after, before)
    assert np.all(after[part] < before[part]), (name, after, before)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_invert_beats_the_mean_image_on_samples_and_unseen_images(gan, space):
  out = invert(gan["g"], gan["d"], gan["mixed"], steps=40, lr=0.1, space=space)
  check_inversion(gan, out, space)


@pytest.fixture(scope="module")
def encoder(gan):
  return train_latent_encoder(gan["g"], gan["d"], steps=150, batch_size=B, lr=1e-2,
                              key=rbg_key(2), widths=(16, 32), hidden_samples=256)


def test_latent_encoder_beats_the_mean_image_on_generator_samples(gan, encoder):
  g, enc = gan["g"], encoder
  assert enc["h0"].shape == (SPEC.style_dim,) and int(enc["offset_layer"]) == 1
  assert enc["center_image"].shape == (1, 16, 16, 3)
  w = encode_latent(g, enc, gan["samples"])
  assert w.shape == (B, SPEC.style_dim)
  after = l1(render_w(g, w), gan["samples"]).mean()
  before = l1(gan["mean_images"], gan["samples"]).mean()
  print(f"encoder, generator samples: L1 after {after:.4f}, mean-w image {before:.4f}")
  assert after < 0.9 * before
  # Relative encoding: the centre image maps to w0 = Mapping(h0, start=k) exactly.
  w0 = map_latents(g, jnp.asarray(enc["h0"])[None], start=1)
  centre = encode_latent(g, enc, np.repeat(np.clip(enc["center_image"], -1, 1), B, 0))
  np.testing.assert_allclose(centre, np.broadcast_to(w0, centre.shape), atol=1e-5)
  with pytest.raises(ValueError, match="offset_layer: expected the encoder's own 1, got 0"):
    encode_latent(g, enc, gan["samples"], offset_layer=0)


def test_inversion_scores_rank_every_method_against_the_mean_image(gan, encoder):
  out = inversion_scores(gan["g"], gan["d"], encoder, gan["mixed"], steps=40, lr=0.1, batch=B)
  scores, recon = out["scores"], out["reconstructions"]
  assert set(scores) == set(recon) == {"mean_w", "invert_w", "invert_w+", "encoder"}
  for method, images in recon.items():
    assert images.shape == gan["mixed"].shape, method
    np.testing.assert_allclose(scores[method]["l1"], l1(images, gan["mixed"]).mean() / 2,
                               rtol=1e-5)
  np.testing.assert_allclose(recon["mean_w"], np.broadcast_to(gan["mean_images"][:1],
                                                              gan["mixed"].shape), atol=1e-5)
  assert scores["mean_w"]["margin"] == 0.0
  assert scores["invert_w"]["margin"] > 0.2 and scores["invert_w+"]["margin"] > 0.2, scores


def test_a_saved_discriminator_loads_only_for_its_generator(gan, tmp_path):
  path = save_tree(tmp_path / "d.npz", gan["d"])
  loaded = load_discriminator(path, gan["g"])
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(gan["d"])):
    np.testing.assert_array_equal(a, b)
  other = jax.eval_shape(lambda: init_generator(
      generator_spec(16, 256, 32, style_dim=32, mapping_layers=2), jax.random.key(0)))
  with pytest.raises(ValueError, match="discriminator_params"):
    load_discriminator(path, other)


def good_images():
  return np.zeros((2, 16, 16, 3), np.float32)


BAD_IMAGES = {
    "wrong size": (np.zeros((2, 8, 8, 3), np.float32), r"images: expected shape \(B, 16, 16, 3\)"),
    "wrong channels": (np.zeros((2, 16, 16, 1), np.float32), r"images: expected shape"),
    "no batch axis": (np.zeros((16, 16, 3), np.float32), r"images: expected shape"),
    "NaN": (np.where(np.arange(3) == 1, np.nan, good_images()), "images: expected finite"),
    "out of range": (good_images() + 1.5, r"images: expected values in \[-1.0, 1.0\]"),
    "uint8": (np.zeros((2, 16, 16, 3), np.uint8), "images: expected a float array"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_raise_value_errors_naming_images(gan, case):
  images, message = BAD_IMAGES[case]
  with pytest.raises(ValueError, match=message):
    invert(gan["g"], gan["d"], images)
  with pytest.raises(ValueError, match=message):
    encode_latent(gan["g"], {}, images)


@pytest.mark.parametrize("changes, message", [
    (dict(space="z"), "space: expected one of"),
    (dict(steps=0), "steps: expected an integer >= 1"),
    (dict(lr=-1.0), "lr: expected a finite number > 0"),
    (dict(feature_weight=float("nan")), "feature_weight: expected a finite number >= 0"),
])
def test_bad_options_raise_value_errors_naming_them(gan, changes, message):
  with pytest.raises(ValueError, match=message):
    invert(gan["g"], gan["d"], good_images(), **changes)


def test_a_mismatched_discriminator_is_named(gan):
  other = {k: v for k, v in gan["d"].items() if k != "final_conv"}
  with pytest.raises(ValueError, match="discriminator_params: expected final_conv/"):
    invert(gan["g"], other, good_images())
  with pytest.raises(ValueError, match="offset_layer: expected an integer in \\[-2, 2\\]"):
    train_latent_encoder(gan["g"], gan["d"], steps=1, batch_size=2, key=rbg_key(4),
                         offset_layer=3)
