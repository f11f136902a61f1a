"""Differentiable shading renderer in plain JAX (CPU, GPU, TPU): camera, normals, shading, warp.

The photo-geometric renderer of Unsup3d / GAN2Shape: a depth map (B, H, W) seen through a
perspective camera (fov 10 degrees) gives normals; albedo * (ambient + diffuse * max(0, n.l))
gives the image; a view (B, 6) re-renders depth and image from another viewpoint by
rasterising the depth grid as a triangle mesh. Everything is jit-, vmap- and grad-able.
Frames and conventions: ``camera`` (viewer frame x right, y up, z towards the viewer),
``view`` (rotation order and centre), ``raster`` (coverage, cost and its budget).
"""
from inverse3d.render.camera import (DEPTH_RANGE, FOV_DEG, ROTATION_CENTRE_DEPTH, focal_length,
                                     project, unproject)
from inverse3d.render.export import depth_mesh, save_obj
from inverse3d.render.figures import reconstruction_figure
from inverse3d.render.mesh import render_mesh
from inverse3d.render.normals import depth_to_normals
from inverse3d.render.raster import grid_triangles, interpolate, rasterize, soft_mask
from inverse3d.render.shading import light_direction, shade
from inverse3d.render.view import rotation_matrix, transform_points
from inverse3d.render.warp import bilinear_sample, render_view

__all__ = ["DEPTH_RANGE", "FOV_DEG", "ROTATION_CENTRE_DEPTH", "focal_length", "project",
           "unproject", "depth_mesh", "save_obj", "reconstruction_figure", "render_mesh",
           "depth_to_normals", "grid_triangles", "interpolate", "rasterize", "soft_mask",
           "light_direction", "shade", "rotation_matrix", "transform_points", "bilinear_sample",
           "render_view"]
