"""Differentiable shading renderer: camera, depth to normals, shading, view warp."""
