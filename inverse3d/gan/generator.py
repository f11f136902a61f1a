"""A generator as one plain dict, and the functions that run it.

    generator = init_generator(spec, key)
    images = generate(generator, z)                      # (B, R, R, 3) in about [-1, 1]
    images = generate(generator, w, input_is_w=True, truncation=0.7)

``generator``: {"mapping": mapping params, "synthesis": synthesis params, "noise": tuple of the
constant noise inputs (H, W), "w_avg": (D,) mean of w over random z (the truncation centre)}.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from inverse3d.checks import check_finite, check_range
from inverse3d.gan.layers import resolved_conv_impl
from inverse3d.gan.networks import GeneratorSpec, Mapping, Synthesis

NOISE_MODES = ("const", "random", "none")
W_AVG_SAMPLES = 4096


def mapping_module(spec: GeneratorSpec) -> Mapping:
  return Mapping(spec.style_dim, spec.mapping_layers, spec.lr_mul)


@functools.partial(jax.jit, static_argnums=0)
def init_generator(spec: GeneratorSpec, key) -> dict:
  """Fresh generator params for ``spec``; constant noise drawn from ``key`` too (jitted: flax's
  eager init dispatches, and on CPU compiles, every op one by one)."""
  k_map, k_syn, k_noise = jax.random.split(key, 3)
  z = jnp.zeros((1, spec.style_dim))
  mapping = mapping_module(spec).init(k_map, z)["params"]
  ws = jnp.zeros((1, spec.n_latent, spec.style_dim))
  synthesis = Synthesis(spec).init(k_syn, ws)["params"]
  keys = jax.random.split(k_noise, len(spec.noise_shapes))
  noise = tuple(jax.random.normal(k, s) for k, s in zip(keys, spec.noise_shapes))
  return {"mapping": mapping, "synthesis": synthesis, "noise": noise,
          "w_avg": jnp.zeros((spec.style_dim,))}


def spec_of(generator: dict) -> GeneratorSpec:
  """The architecture of a generator dict, read from its parameter shapes."""
  try:
    mapping, synthesis = generator["mapping"], generator["synthesis"]
    layers = len([k for k in mapping if k.startswith("style_")])
    style_dim = mapping["style_1"]["weight"].shape[1]
    blocks = len([k for k in synthesis if k.startswith("to_rgbs_")])
    channels = (synthesis["conv1"]["bias"].shape[0],) + tuple(
        synthesis[f"convs_{2 * b}"]["bias"].shape[0] for b in range(blocks))
  except (KeyError, TypeError, IndexError, AttributeError) as e:
    raise ValueError(f"generator: expected a dict with 'mapping' (style_N layers) and "
                     f"'synthesis' (conv1, convs_N, to_rgbs_N) params, got one without {e}")
  return GeneratorSpec(4 * 2 ** blocks, channels, int(style_dim), layers)


def map_latents(generator: dict, z, *, truncation: float = 1.0, start: int = 0,
                stop: int | None = None):
  """z (B, D) -> w (B, D) through the mapping network, truncated towards ``w_avg``:
  ``w_avg + truncation * (w - w_avg)``. ``start``/``stop`` as :class:`Mapping`'s."""
  check_range("truncation", truncation, 0.0, 1.0)
  spec = spec_of(generator)
  w = mapping_module(spec).apply({"params": generator["mapping"]}, z, start, stop)
  if truncation != 1.0:
    w = generator["w_avg"] + truncation * (w - generator["w_avg"])
  return w


def noise_inputs(generator: dict, batch: int, mode: str = "const", key=None):
  """The synthesis network's noise: ``"const"`` the generator's own, ``"random"`` fresh
  normals from ``key`` (one per sample), ``"none"`` no noise."""
  spec = spec_of(generator)
  if mode == "none":
    return None
  if mode == "const":
    return [n[None, :, :, None] for n in generator["noise"]]
  if mode != "random" or key is None:
    raise ValueError(f"noise: expected one of {NOISE_MODES} ('random' with a key), got "
                     f"{mode!r} (key {'given' if key is not None else 'None'})")
  keys = jax.random.split(key, len(spec.noise_shapes))
  return [jax.random.normal(k, (batch, h, w, 1)) for k, (h, w) in zip(keys, spec.noise_shapes)]


def broadcast_w(generator: dict, w):
  """w (B, D) or w+ (B, n_latent, D) -> w+ (B, n_latent, D)."""
  spec = spec_of(generator)
  if w.ndim == 2:
    return jnp.broadcast_to(w[:, None], (w.shape[0], spec.n_latent, w.shape[1]))
  return w


def synthesize(generator: dict, ws, *, noise: str = "const", key=None):
  """Per-layer styles ws (B, n_latent, D) -> images (B, R, R, 3) (about [-1, 1])."""
  spec = spec_of(generator)
  return Synthesis(spec).apply({"params": generator["synthesis"]}, ws,
                               noise_inputs(generator, ws.shape[0], noise, key))


def generate(generator: dict, w_or_z, *, input_is_w: bool = False, truncation: float = 1.0,
             noise: str = "const", key=None):
  """Images (B, R, R, 3) in about [-1, 1] from latents (jitted).

  Args:
    generator: a generator dict (module docstring).
    w_or_z: z (B, D) (mapped first), or with ``input_is_w`` w (B, D) or w+ (B, n_latent, D);
      finite.
    truncation: in [0, 1]; 1 is none, 0 gives the mean image.
    noise: "const" (the generator's fixed noise: the same image for the same latent),
      "random" (fresh per call, from ``key``) or "none".
  """
  spec = spec_of(generator)
  shape = np.shape(w_or_z)
  if len(shape) not in (2, 3) or shape[-1] != spec.style_dim or (
      len(shape) == 3 and (not input_is_w or shape[1] != spec.n_latent)):
    plus = f" or (B, {spec.n_latent}, {spec.style_dim})" if input_is_w else ""
    raise ValueError(f"w_or_z: expected ({'w' if input_is_w else 'z'}) (B, {spec.style_dim})"
                     f"{plus}, got {shape}")
  check_finite("w_or_z", w_or_z)
  check_range("truncation", truncation, 0.0, 1.0)
  if noise not in NOISE_MODES:
    raise ValueError(f"noise: expected one of {NOISE_MODES}, got {noise!r}")
  return _generate(generator, w_or_z, input_is_w=input_is_w, truncation=float(truncation),
                   noise=noise, key=key, impl=resolved_conv_impl())


@functools.partial(jax.jit, static_argnames=("input_is_w", "truncation", "noise", "impl"))
def _generate(generator, w_or_z, *, input_is_w, truncation, noise, key, impl):
  """``generate`` after its checks; ``impl`` (the conv implementation) keys jit's cache, so a
  later ``conv_impl`` block is not served a trace made under another."""
  del impl
  w_or_z = jnp.asarray(w_or_z)
  if input_is_w:
    w = w_or_z if truncation == 1.0 else (generator["w_avg"]
                                          + truncation * (w_or_z - generator["w_avg"]))
  else:
    w = map_latents(generator, w_or_z, truncation=truncation)
  return synthesize(generator, broadcast_w(generator, w), noise=noise, key=key)


@functools.partial(jax.jit, static_argnames="n")
def mean_w(generator: dict, key, n: int = W_AVG_SAMPLES):
  """The mean of w over ``n`` standard normal z (D,)."""
  spec = spec_of(generator)
  z = jax.random.normal(key, (n, spec.style_dim))
  return jnp.mean(map_latents(generator, z), 0)


def to_uint8(images) -> np.ndarray:
  """Generator images (about [-1, 1]) -> uint8 (B, H, W, 3) for figures."""
  return np.asarray(jnp.clip(jnp.round((jnp.asarray(images) + 1) * 127.5), 0, 255), np.uint8)
