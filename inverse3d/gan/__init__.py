"""StyleGAN2 in flax: the 2D image generator GAN2Shape starts from.

A generator is one plain dict (``generator.py``): the mapping and synthesis networks' params,
the constant noise inputs and the mean latent; its architecture is read from the shapes.

    generator = load_generator("workdirs/stylegan2_cpu/generator.npz")
    images = generate(generator, z)                        # z (B, D) -> (B, R, R, 3) in ~[-1, 1]
    images = generate(generator, w, input_is_w=True, truncation=0.7)
    generator = from_rosinality(g_ema_state_dict)           # published PyTorch weights

Modules: ``layers`` (equalised-lr layers, modulated convolution, FIR resampling), ``networks``
(mapping, synthesis, discriminator), ``generator`` (the dict and the functions that run it),
``losses``, ``training`` (the training iteration on the core's data-parallel step),
``export`` (generator files), ``convert`` (rosinality's stylegan2-pytorch layout),
``inversion`` (projection of images to w / w+, and GAN2Shape's latent encoder).
"""
from inverse3d.gan.convert import from_rosinality, read_rosinality_pt
from inverse3d.gan.export import (load_discriminator, load_generator, load_tree, save_generator,
                                  save_tree)
from inverse3d.gan.generator import (generate, init_generator, map_latents, mean_w, spec_of,
                                     synthesize, to_uint8)
from inverse3d.gan.networks import Discriminator, GeneratorSpec, generator_spec
from inverse3d.gan.inversion import LatentEncoder, encode_latent, invert, train_latent_encoder
