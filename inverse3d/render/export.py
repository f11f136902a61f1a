"""Export a depth map and its albedo as a Wavefront .obj mesh that ordinary 3D viewers open."""
from __future__ import annotations

import io
import os

import numpy as np

from inverse3d.checks import check_dtype, check_finite, check_range, check_shape
from inverse3d.files import atomic_write_all
from inverse3d.render.camera import (DEPTH_RANGE, FOV_DEG, ROTATION_CENTRE_DEPTH,
                                     check_depth_map, check_depth_settings, check_fov,
                                     clamp_depth, unproject)
from inverse3d.render.raster import grid_triangles


def depth_mesh(depth, fov_deg=FOV_DEG, mask=None, depth_range=DEPTH_RANGE,
               centre_depth=ROTATION_CENTRE_DEPTH):
  """The depth map as a mesh: (vertices (H W, 3) float64, triangles (T, 3) int32).

  Vertices are the unprojected pixel centres (depth clamped into ``depth_range``) in the viewer
  frame (x right, y up, z towards the viewer) shifted so that the rotation centre is the
  origin, which is where viewers orbit. Triangles are counterclockwise seen from the camera;
  with a (H, W) bool ``mask``, only triangles whose three vertices are in it are kept.
  Reads ``depth`` to the host (NumPy), so its values are always checked.
  """
  depth = np.asarray(depth)
  check_depth_map(depth, batched=False)
  check_fov(fov_deg)
  check_depth_settings(depth_range, centre_depth)
  if mask is not None:
    check_shape("mask", mask, depth.shape)
  depth = depth.astype(np.float64)
  points = np.asarray(unproject(clamp_depth(depth, depth_range), fov_deg), np.float64)
  points[..., 2] += centre_depth
  triangles = grid_triangles(*depth.shape)
  if mask is not None:
    triangles = triangles[np.asarray(mask, bool).reshape(-1)[triangles].all(axis=1)]
  return points.reshape(-1, 3), triangles


def save_obj(path, depth, albedo, fov_deg=FOV_DEG, *, texture: bool = False, mask=None,
             depth_range=DEPTH_RANGE) -> list[str]:
  """Writes the mesh of ``depth`` coloured by ``albedo`` to ``path`` (.obj).

  Args:
    path: output .obj path.
    depth: (H, W) depth map (clamped into ``depth_range``).
    albedo: (H, W, C) colours in [0, 1], C = 1 (grey) or 3 (RGB).
    fov_deg: the camera's field of view in degrees.
    texture: False writes per-vertex colours (``v x y z r g b``, read by MeshLab, Blender,
      Open3D, trimesh); True writes texture coordinates, a material file ``<stem>.mtl`` and
      the albedo as ``<stem>.png`` beside the .obj (read by every OBJ viewer).
    mask: optional (H, W) bool; only triangles inside it are written.
    depth_range: (low, high) clamp limits, finite, camera.NEAR <= low < high.
  Returns:
    The paths written: all of them appear, each whole, or none does (the .obj, and with
    ``texture`` its .png and .mtl, are renamed into place only once all are written).
  Reads its inputs to the host (NumPy), so their values are always checked.
  """
  depth, albedo = np.asarray(depth), np.asarray(albedo)
  bind = check_depth_map(depth, batched=False)
  check_shape("albedo", albedo, (bind["H"], bind["W"], None))
  if np.shape(albedo)[-1] not in (1, 3):
    raise ValueError(f"albedo: expected 1 or 3 channels, got {np.shape(albedo)[-1]}")
  check_dtype("albedo", albedo, "biuf")
  check_finite("albedo", albedo)
  check_range("albedo", albedo, 0.0, 1.0)
  vertices, triangles = depth_mesh(depth, fov_deg, mask, depth_range)
  colours = np.broadcast_to(np.asarray(albedo, np.float64), (*bind.values(), 3)).reshape(-1, 3)
  path = os.fspath(path)
  stem = os.path.splitext(path)[0]
  lines = ["# depth-map mesh written by inverse3d.render.export"]
  files = {}  # path -> (mode, contents)
  if texture:
    height, width = bind["H"], bind["W"]
    mtl, png = stem + ".mtl", stem + ".png"
    files[png] = ("wb", _png_bytes(albedo))
    files[mtl] = ("w", f"newmtl albedo\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\n"
                       f"map_Kd {os.path.basename(png)}\n")
    lines += [f"mtllib {os.path.basename(mtl)}", "usemtl albedo"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    v, u = np.divmod(np.arange(height * width), width)
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in zip(u / (width - 1), 1 - v / (height - 1))]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in triangles + 1]
  else:
    lines += [f"v {x:.6f} {y:.6f} {z:.6f} {r:.4f} {g:.4f} {b:.4f}"
              for (x, y, z), (r, g, b) in zip(vertices, colours)]
    lines += [f"f {a} {b} {c}" for a, b, c in triangles + 1]
  files[path] = ("w", "\n".join(lines) + "\n")
  with atomic_write_all() as create:
    for name, (mode, contents) in files.items():
      with create(name, mode) as f:
        f.write(contents)
  return [path] + [name for name in files if name != path]


def _png_bytes(albedo) -> bytes:
  from PIL import Image
  pixels = np.round(np.clip(np.asarray(albedo, np.float64), 0, 1) * 255).astype(np.uint8)
  image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
  buffer = io.BytesIO()
  image.save(buffer, format="PNG")
  return buffer.getvalue()
