"""Closed-form PCA and least squares in jax.numpy (the paper's section 4.1 and Table 2).

    pca = fit_pca(x, k)                        # x (n, d) -> PCA(mean, components, singular_values)
    model = fit_lowdim_ls(images, shapes, 60, 400, shape_index=index)   # eqs 2-9
    model = fit_direct_ls(images, shapes, shape_index=index)            # eqs 10-11
    shapes_hat = predict(model, test_images)   # (n, d_z)

Unpaired pre-training: fit_code_mapping(fit_pca(unlabeled_images, 60),
fit_pca(unlabeled_shapes, 400), images, shapes).
"""
from inverse3d.linear.pca import PCA, decode, encode, fit_pca, pca_method
from inverse3d.linear.least_squares import (DirectLS, LowDimLS, fit_affine, fit_code_mapping,
                                            fit_direct_ls, fit_lowdim_ls, predict)

__all__ = ["PCA", "decode", "encode", "fit_pca", "pca_method", "DirectLS", "LowDimLS",
           "fit_code_mapping", "fit_direct_ls", "fit_lowdim_ls", "predict"]
