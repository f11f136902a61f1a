"""StyleGAN2 in flax: generator, discriminator, training, inversion, published-weight converter."""
from inverse3d.gan.inversion import LatentEncoder, encode_latent, invert, train_latent_encoder
