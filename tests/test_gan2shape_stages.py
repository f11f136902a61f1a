"""GAN2Shape's stage loop and reconstruct() on a tiny random 16x16 GAN (no trained one needed
for the mechanics): shapes, each step's loss falling, the prior, the pseudo samples' lights,
resume after a kill, divergence, bad input."""
import json
import os
from collections import Counter

import jax
import numpy as np
import pytest

from inverse3d.gan import train_latent_encoder
from inverse3d.gan.generator import init_generator, map_latents
from inverse3d.gan.layers import conv_impl
from inverse3d.gan.networks import Discriminator, generator_spec
from inverse3d.gan2shape import (ellipsoid_depth, export_obj, method_config, reconstruct,
                                 relight, rotate)
from inverse3d.gan2shape import stages
from inverse3d.gan2shape.steps import pseudo_samples
from inverse3d.render import DEPTH_RANGE
from tiny_gan import drawings, random_params

SPEC = generator_spec(16, 128, 16, style_dim=32, mapping_layers=2)
B = 2


@pytest.fixture(scope="module", autouse=True)
def native_convolutions():
  with conv_impl("native"):
    yield


@pytest.fixture(scope="module")
def gan(native_convolutions):
  rng = np.random.default_rng(0)
  key, image = jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32)
  g = random_params(jax.eval_shape(lambda: init_generator(SPEC, key)), rng, SPEC.lr_mul)
  d = random_params(jax.eval_shape(lambda: Discriminator(SPEC.channels).init(key, image)),
                    rng)["params"]
  for name, p in g["synthesis"].items():
    if name.startswith("to_rgb"):
      p["conv"]["weight"] *= 0.3
  g["w_avg"] = np.asarray(jax.jit(map_latents)(
      g, rng.standard_normal((256, SPEC.style_dim), np.float32))).mean(0)
  encoder = train_latent_encoder(g, d, steps=1, batch_size=B, key=jax.random.key(1),
                                 widths=(8, 16), hidden_samples=64)
  return {"generator": g, "discriminator": d, "encoder": encoder}


@pytest.fixture(scope="module")
def faces():
  images, masks = drawings(B, 16, np.random.default_rng(3), with_masks=True)
  return (images + 1.0) / 2.0, masks


def tiny_config(**steps):
  c = method_config("runlocal")
  c.prior.depth_steps = steps.get("depth", 3)
  c.prior.steps = steps.get("albedo", 2)
  c.pseudo.steps = steps.get("encoder", 2)
  c.shape.steps = steps.get("shape", 2)
  return c


def lines(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def run(gan, faces, tmp_path_factory):
  """One run with a workdir: 12 steps of each loss, lr raised so that 12 steps show."""
  workdir = str(tmp_path_factory.mktemp("g2s"))
  c = tiny_config(depth=12, albedo=12, encoder=12, shape=12)
  c.prior.lr = c.pseudo.lr = c.shape.lr = 3e-3
  images, masks = faces
  out = reconstruct(images, gan, c, jax.random.key(5), masks=masks, workdir=workdir)
  return {"out": out, "workdir": workdir, "config": c}


def test_reconstruct_returns_every_factor_in_range(run, faces):
  out, n = run["out"], run["config"].pseudo.samples
  shapes = {"depth": (B, 16, 16), "canonical_depth": (B, 16, 16), "albedo": (B, 16, 16, 3),
            "normals": (B, 16, 16, 3), "view": (B, 6), "light": (B, 4), "mask": (B, 16, 16),
            "prior_depth": (B, 16, 16), "shading": (B, 16, 16),
            "reconstruction": (B, 16, 16, 3), "projected": (B, n, 16, 16, 3)}
  for name, shape in shapes.items():
    assert np.shape(out[name]) == shape, name
    assert np.all(np.isfinite(out[name])), name
  low, high = DEPTH_RANGE
  assert np.all((out["canonical_depth"] >= low) & (out["canonical_depth"] <= high))
  assert np.all((out["albedo"] >= 0) & (out["albedo"] <= 1))
  assert np.all((out["projected"] >= 0) & (out["projected"] <= 1))
  np.testing.assert_allclose(np.linalg.norm(out["normals"], axis=-1), 1.0, atol=1e-4)
  np.testing.assert_allclose(out["prior_depth"], ellipsoid_depth(faces[1]), atol=1e-6)
  assert set(out["rates"]) == {"depth", "albedo", "encoder", "shape"}


def test_each_step_lowers_its_loss(run):
  records = lines(run["workdir"])
  for step in ("depth", "albedo", "encoder", "shape"):
    losses = np.array([r["loss"] for r in records if r["step"] == step])  # (iterations, B)
    assert losses.shape == (12, B), step
    assert np.all(losses[-1] < losses[0]), (step, losses[0], losses[-1])


def test_relight_rotate_and_export_render_the_result(run, tmp_path):
  out = run["out"]
  same = relight(out, out["light"])
  np.testing.assert_allclose(same, out["reconstruction"], atol=1e-5)
  dark = relight(out, [0.0, 0.0, 0.0, 0.0])
  assert np.all(dark == 0.0)
  turned = rotate(out, yaw_deg=20.0)
  assert turned.shape == (B, 16, 16, 3) and not np.allclose(turned, out["reconstruction"])
  paths = export_obj(tmp_path / "face.obj", out, 1)
  assert os.path.exists(tmp_path / "face.obj") and len(paths) == 3
  with pytest.raises(ValueError, match="index"):
    export_obj(tmp_path / "x.obj", out, B)


def test_pseudo_sample_lights_stay_in_their_ranges(gan, faces):
  c = tiny_config()
  nets = stages.nets_of(c)
  params = stages.initial_state(gan, c, faces[0], faces[1], jax.random.key(0))["params"]
  one = jax.tree.map(lambda x: x[0], params)
  ranges = {"dx": (-0.5, 0.25), "dy": (0.1, 0.2), "strength": (0.0, 0.1),
            "ambient_scale": -0.6}
  out = pseudo_samples(nets, one, faces[0][0], jax.random.key(2), 64, ranges, np.zeros(6),
                       np.array([0.1, 0.3, 0.0, 0.0, 0.0, 0.0]), 1.2)
  lights = np.asarray(out["lights"])
  assert out["images"].shape == (64, 16, 16, 3)
  assert np.all((lights[:, 2] >= -0.5) & (lights[:, 2] <= 0.25))
  assert np.all((lights[:, 3] >= 0.1) & (lights[:, 3] <= 0.2))
  views = np.asarray(out["views"])
  assert np.all(views[:, 2:] == 0.0) and views[:, 1].std() > views[:, 0].std()


def test_a_killed_run_resumes_after_its_last_step_to_the_same_result(gan, faces, tmp_path,
                                                                      monkeypatch):
  c = tiny_config()
  images, masks = faces
  unbroken = reconstruct(images, gan, c, jax.random.key(7), masks=masks)
  original = stages._shape

  def killed(*args, **kwargs):
    raise KeyboardInterrupt("killed")

  monkeypatch.setattr(stages, "_shape", killed)
  with pytest.raises(KeyboardInterrupt):
    reconstruct(images, gan, c, jax.random.key(7), masks=masks, workdir=str(tmp_path))
  monkeypatch.setattr(stages, "_shape", original)
  resumed = reconstruct(images, gan, c, jax.random.key(7), masks=masks, workdir=str(tmp_path))
  # the first run did the prior and the pseudo samples, the second only the shape step
  assert Counter(r["step"] for r in lines(tmp_path)) == {"depth": 3, "albedo": 2,
                                                          "encoder": 2, "shape": 2}
  for name in ("depth", "albedo", "view", "light", "projected"):
    np.testing.assert_allclose(resumed[name], unbroken[name], atol=1e-5, err_msg=name)
  other = faces[0][::-1].copy()
  with pytest.raises(ValueError, match="incompatible config"):
    reconstruct(other, gan, c, jax.random.key(7), masks=masks[::-1].copy(),
                workdir=str(tmp_path))


def test_a_diverging_step_stops_naming_it_and_keeps_the_last_checkpoint(gan, faces, tmp_path):
  c = tiny_config()
  c.pseudo.lr = 1e30
  with pytest.raises(FloatingPointError, match="stage 0 pseudo, encoder iteration"):
    reconstruct(faces[0], gan, c, jax.random.key(7), masks=faces[1], workdir=str(tmp_path))
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1"]


@pytest.mark.parametrize("change, message", [
    (lambda x, m: (x[:, :8], m), "images: expected"),
    (lambda x, m: (x[..., :1], m), "images: expected"),
    (lambda x, m: (np.where(x > 0.5, np.nan, x), m), "images"),
    (lambda x, m: (x * 2.0, m), "images"),
    (lambda x, m: (x, np.zeros_like(m)), "mask"),
    (lambda x, m: (x, np.ones_like(m)), "mask"),
    (lambda x, m: (x, None), "masks: expected"),
])
def test_bad_input_is_named(gan, faces, change, message):
  images, masks = change(*faces)
  with pytest.raises(ValueError, match=message):
    reconstruct(images, gan, tiny_config(), jax.random.key(0), masks=masks)


def test_a_generator_of_another_resolution_is_named(gan, faces):
  other = dict(gan, generator=jax.eval_shape(lambda: init_generator(
      generator_spec(32, 128, 16, style_dim=32, mapping_layers=2), jax.random.key(0))))
  with pytest.raises(ValueError, match="discriminator_params|images"):
    reconstruct(faces[0], other, tiny_config(), jax.random.key(0), masks=faces[1])
  with pytest.raises(ValueError, match="gan: expected"):
    reconstruct(faces[0], {"generator": gan["generator"]}, tiny_config(), jax.random.key(0),
                masks=faces[1])
