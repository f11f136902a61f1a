"""Models of the representation-mapping framework (flax.linen, used through init/apply).

``registry.build_model(config.model)`` picks each component by name; ``framework.Framework``
composes 2D encoder -> mapping -> 3D decoder and the two autoencoders.
"""
from inverse3d.models.alexnet import AlexNetEncoder, load_torchvision_alexnet
from inverse3d.models.conv import (CONV_IMPLS, Conv, ConvDecoder, ConvEncoder, ConvMapping,
                                   resolve_conv_impl)
from inverse3d.models.dense import MLP, pca_decoder_params, pca_encoder_params
from inverse3d.models.framework import (COMPONENTS, Framework, init_from_pca, init_params,
                                        resize_images)
from inverse3d.models.registry import build_component, build_model
