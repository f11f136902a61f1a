"""Gradients of the full renderer against float64 finite differences; no NaN/inf anywhere."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.render import depth_to_normals, render_view, shade

H, W = 10, 12


def reconstruct(depth, albedo, light, view, mask="hard"):
  """The photo-geometric autoencoder's rendering: shade in the canonical view, then re-view."""
  image = shade(depth_to_normals(depth), albedo, light)
  return render_view(depth, image, view, mask=mask)


def weighted(params, weights, mask="hard"):
  """A loss that touches every output: returns (loss, outputs)."""
  outputs = reconstruct(*params, mask=mask)
  image, depth, coverage = outputs
  return (jnp.sum(weights[0] * image) + jnp.sum(weights[1] * depth * coverage) +
          jnp.sum(weights[2] * coverage)), outputs


# (gradients w.r.t. depth, albedo, light, view; the rendered outputs). One compiled function
# per dtype, shape and mask serves every test (compilation dominates their time).
grad_and_outputs = jax.jit(jax.grad(weighted, has_aux=True), static_argnames="mask")


def grad(params, weights, mask="hard"):
  return grad_and_outputs(params, weights, mask)[0]


def loss(params, weights, mask="hard"):
  """The loss in float64 NumPy from the rendered outputs."""
  image, depth, coverage = (np.asarray(x, np.float64) for x in
                            grad_and_outputs(params, weights, mask)[1])
  return (np.sum(weights[0] * image) + np.sum(weights[1] * depth * coverage) +
          np.sum(weights[2] * coverage))


def problem(batch=2, seed=0, dtype=np.float64):
  rng = np.random.default_rng(seed)
  v, u = np.mgrid[0:H, 0:W] / W
  phase = rng.uniform(0, 6, (batch, 1, 1))
  depth = 1.0 + 0.03 * np.sin(4 * u + phase) * np.cos(3 * v - phase)
  albedo = rng.uniform(0.2, 0.8, (batch, H, W, 3))
  light = np.stack([rng.uniform(0.2, 0.5, batch), rng.uniform(0.4, 0.8, batch),
                    rng.uniform(-0.5, 0.5, batch), rng.uniform(-0.5, 0.5, batch)], 1)
  view = np.concatenate([rng.uniform(-0.3, 0.3, (batch, 3)),
                         rng.uniform(-0.01, 0.01, (batch, 3))], 1)
  weights = (rng.normal(size=(batch, H, W, 3)), rng.normal(size=(batch, H, W)),
             rng.normal(size=(batch, H, W)))
  cast = lambda xs: tuple(np.asarray(x, dtype) for x in xs)
  return cast((depth, albedo, light, view)), cast(weights)


@pytest.mark.parametrize("mask", ["hard", "soft"])
def test_gradients_match_float64_central_differences(mask):
  with jax.enable_x64(True):
    params, weights = problem()
    grads = grad(params, weights, mask)
    rng = np.random.default_rng(1)
    step = 1e-6
    for i, name in enumerate(["depth", "albedo", "light", "view"]):
      for _ in range(2):
        direction = rng.normal(size=params[i].shape)
        plus = list(params)
        minus = list(params)
        plus[i] = params[i] + step * direction
        minus[i] = params[i] - step * direction
        numeric = (loss(plus, weights, mask) - loss(minus, weights, mask)) / (2 * step)
        analytic = np.sum(np.asarray(grads[i]) * direction)
        assert abs(analytic - numeric) <= 1e-5 * (1 + abs(numeric)), (name, analytic, numeric)
        assert abs(numeric) > 1e-3, name       # the direction actually moves the loss


def test_soft_mask_has_a_gradient_at_the_silhouette():
  with jax.enable_x64(True):
    params, weights = problem()
    coverage_only = tuple(np.zeros_like(w) for w in weights[:2]) + (np.ones_like(weights[2]),)
    soft = np.asarray(grad(params, coverage_only, "soft")[3])
    hard = np.asarray(grad(params, coverage_only, "hard")[3])
  assert np.abs(soft[:, 3:5]).min() > 1.0        # shifting sideways moves the silhouette
  np.testing.assert_array_equal(hard, 0.0)


def test_float32_gradients_agree_with_float64():
  params32, weights32 = problem(dtype=np.float32)
  grads32 = grad(params32, weights32)
  with jax.enable_x64(True):
    params64, weights64 = problem()
    grads64 = grad(params64, weights64)
  for g32, g64 in zip(grads32, grads64):
    assert g32.dtype == np.float32
    scale = np.abs(np.asarray(g64)).max()
    np.testing.assert_allclose(g32, g64, atol=2e-3 * scale)


def edge_cases():
  """Inputs (B, ...) for cases that are prone to NaN or inf, two batch entries each."""
  (depth, albedo, light, view), _ = problem(dtype=np.float32)
  flat = np.full_like(depth, 1.0)
  step = np.full_like(depth, 0.9)
  step[:, :, W // 2:] = 1.1
  wild = np.random.default_rng(5).uniform(0.5, 1.6, depth.shape).astype(np.float32)
  turned = view.copy()
  turned[:, 1] = [np.pi / 2, 2.6]                 # edge-on, then from behind
  flipped = view.copy()
  flipped[:, 0] = np.pi
  head_on = light.copy()
  head_on[:, 2:] = 0
  identity = np.zeros_like(view)
  behind = identity + np.array([0, 0, 0, 0, 0, 1.5], np.float32)
  return {
      "flat depth": (flat, albedo, light, view),
      "flat depth, identity view": (flat, albedo, light, identity),
      "depth at the range limits": (step, albedo, light, view),
      "depth beyond the range (clamped)": (wild, albedo, light, view),
      "light head-on": (depth, albedo, head_on, view),
      "zero albedo": (depth, np.zeros_like(albedo), light, view),
      "surface turned away": (depth, albedo, light, turned),
      "surface upside down, from behind": (depth, albedo, light, flipped),
      "flat depth turned edge-on": (flat, albedo, light, turned),
      "translated behind the camera": (depth, albedo, light, behind),
  }


def assert_finite(params, mask, name):
  weights = tuple(np.ones(shape, np.float32) for shape in
                  (params[1].shape, params[0].shape, params[0].shape))
  grads, outputs = grad_and_outputs(params, weights, mask)
  for kind, arrays in (("value", outputs), ("gradient", grads)):
    for array in arrays:
      assert np.all(np.isfinite(np.asarray(array))), (name, kind)


@pytest.mark.parametrize("mask", ["hard", "soft"])
def test_values_and_gradients_are_finite_in_edge_cases(mask):
  for name, params in edge_cases().items():
    assert_finite(params, mask, name)


def test_batch_of_one_is_finite():
  params = tuple(x[:1] for x in edge_cases()["light head-on"])
  assert_finite(params, "hard", "batch size 1")
