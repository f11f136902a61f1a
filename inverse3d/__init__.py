"""inverse3d: recover 3D shape from a single 2D image in JAX.

Subpackages: ``data`` (procedural and real datasets, dataset images), ``render`` (the
differentiable shading renderer), ``linear`` (closed-form PCA / least squares), ``eval``
(metrics and figures), ``jobs`` (what the launcher runs).
"""
__version__ = "0.1.0"
