"""StyleGAN2's losses: non-saturating logistic loss and the R1 penalty (Mescheder et al. 2018)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits, fake_logits):
  """Logistic loss of the discriminator, mean over samples: softplus(D(fake)) + softplus(-D(real))."""
  return jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))


def generator_loss(fake_logits):
  """Non-saturating generator loss, mean over samples: softplus(-D(G(z)))."""
  return jnp.mean(jax.nn.softplus(-fake_logits))


def r1_penalty(discriminator, real):
  """Mean over samples of |grad_x D(x)|^2 at the real images ``real`` (B, H, W, 3).

  ``discriminator``: images -> logits (B,). Returns (penalty, logits).
  """
  logits, pullback = jax.vjp(discriminator, real)
  (grad,) = pullback(jnp.ones_like(logits))
  return jnp.mean(jnp.sum(jnp.square(grad), axis=(1, 2, 3))), logits
