"""GAN2Shape (Pan et al., ICLR 2021): 3D shape from a 2D image generator, on inverse3d.render.

An image I is explained by four factors, each predicted by a network (``networks``, Unsup3d's
photo-geometric autoencoder): canonical depth d, albedo a, view v and light l; ``photometric``
renders them back, I_hat = render_view(d, a * shading(normals(d), l), v), and holds the
reconstruction losses. Per image, for each stage:

1. Weak shape prior (``prior``): the depth net is fitted to an ellipsoid d0 placed on the
   object's mask (``mask``: a segmentation net trained on labelled renders, or a given mask),
   then the albedo net to I, with v = 0 and a frontal light.
2. Pseudo samples (``sampling``): (d, a) rendered under random views and lights, projected
   onto the generator's manifold by the latent encoder (``inverse3d.gan.inversion``).
3. Learn the shape: all four nets trained on I and the projected samples.

Modules: ``networks`` (EDDeconv, Encoder, output maps), ``photometric`` (render_image and the
losses), ``prior`` (ellipsoid_depth), ``sampling`` (sample_views, sample_lights), ``mask``
(MaskNet, train_mask_net, predict_mask), ``steps`` (the three steps' losses for one image),
``stages`` (the stage loop over many images, checkpointed), ``reconstruct`` (the entry points:
load_gan, reconstruct, relight, rotate, export_obj), ``defaults`` (method_config). Images are
NHWC in [0, 1].

    gan = load_gan("workdirs/stylegan2_cpu")
    out = reconstruct(images, gan, method_config("cpu"), key, masks=masks)
"""
from inverse3d.gan2shape.mask import MaskNet, predict_mask, train_mask_net
from inverse3d.gan2shape.networks import (EDDeconv, Encoder, albedo_output, depth_output,
                                          init_nets, light_output, photo_geometric_nets,
                                          predict_factors, view_output)
from inverse3d.gan2shape.photometric import (masked_l1, perceptual_loss, reconstruction_loss,
                                             render_image, smoothness)
from inverse3d.gan2shape.prior import ellipsoid_depth, mask_box
from inverse3d.gan2shape.sampling import sample_lights, sample_views
from inverse3d.gan2shape.defaults import method_config
from inverse3d.gan2shape.reconstruct import (export_obj, load_gan, reconstruct, relight,
                                             rotate)
