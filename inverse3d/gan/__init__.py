"""StyleGAN2 in flax: generator, discriminator, training, inversion, published-weight converter."""
