"""Model components (flax.linen, used through init/apply): dense, convolutional, AlexNet-style.

The representation-mapping system composes them (:mod:`inverse3d.mapping`); any other pipeline
may use them on their own.
"""
from inverse3d.models.alexnet import AlexNetEncoder, load_torchvision_alexnet
from inverse3d.models.conv import (CONV_IMPLS, Conv, ConvDecoder, ConvEncoder, ConvMapping,
                                   resolve_conv_impl)
from inverse3d.models.dense import MLP, pca_decoder_params, pca_encoder_params
