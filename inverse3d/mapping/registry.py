"""Builds a :class:`Framework` from a config, picking every component by name.

``config.model`` (an ml_collections ConfigDict or a dict) holds::

    image_shape = (32, 32, 1)       # (H, W, C) input images
    shape_shape = (V, 3)            # point clouds, or (30, 30, 30) voxels
    image_code = 60                 # k, the 2D code size
    shape_code = 98                 # k', the 3D code size
    recon_shape = (32, 32, 3)       # optional: what the 2D autoencoder reconstructs
    image_encoder = {"name": "linear"}
    image_decoder = {"name": "linear"}
    mapping = {"name": "ff", "hidden": (100,)}
    shape_encoder = {"name": "linear"}
    shape_decoder = {"name": "ff", "hidden": (200,), "out_activation": "identity"}

Component names and their optional fields (defaults in ``FIELDS``):
  linear  (any slot)            hidden
  ff      (any slot)            hidden, activation, out_activation
  conv    (encoders: images or voxels; mapping; decoders: images or voxels)
                                channels, kernel, activation (+ out_activation for decoders;
                                + impl, "auto" | "native" | "batch_last", for encoders and
                                decoders, see models.conv.resolve_conv_impl)
  alexnet (image_encoder only, 227x227x3 images)   channels, fc
"""
from __future__ import annotations

from inverse3d.checks import check_choice, check_positive_int
from inverse3d.models.alexnet import INPUT_SHAPE as ALEXNET_INPUT
from inverse3d.models.alexnet import AlexNetEncoder
from inverse3d.models.conv import CONV_IMPLS, ConvDecoder, ConvEncoder, ConvMapping
from inverse3d.models.dense import MLP
from inverse3d.mapping.framework import Framework

# slot -> (role, what it reads or writes)
SLOTS = {
    "image_encoder": ("encoder", "image"),
    "image_decoder": ("decoder", "image"),
    "mapping": ("mapping", "code"),
    "shape_encoder": ("encoder", "shape"),
    "shape_decoder": ("decoder", "shape"),
}
FIELDS = {
    "linear": {"hidden": ()},
    "ff": {"hidden": (100,), "activation": "relu", "out_activation": "identity"},
    "conv": {"channels": (32, 16), "kernel": 3, "activation": "relu", "impl": "auto"},
    "alexnet": {"channels": (64, 192, 384, 256, 256), "fc": (4096, 4096)},
}
CONV_MAPPING_CHANNELS = 100
REQUIRED = ("image_shape", "shape_shape", "image_code", "shape_code", *SLOTS)


def _fields(path: str, spec, role: str) -> tuple[str, dict]:
  spec = dict(spec)
  if "name" not in spec:
    raise ValueError(f"{path}: expected a 'name' field, one of {sorted(FIELDS)}, got fields "
                     f"{sorted(spec)}")
  name = spec.pop("name")
  check_choice(f"{path}.name", name, sorted(FIELDS))
  allowed = dict(FIELDS[name])
  if name == "conv" and role == "mapping":
    allowed["channels"] = CONV_MAPPING_CHANNELS
    del allowed["impl"]  # a 1D flax nn.Conv, the same on every backend
  if name == "conv" and role == "decoder":
    allowed["out_activation"] = "identity"
  unknown = sorted(set(spec) - set(allowed))
  if unknown:
    raise ValueError(f"{path}: expected fields of component {name!r} among {sorted(allowed)}, "
                     f"got unknown {unknown}")
  allowed.update({k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
  return name, allowed


def _spatial_kind(path: str, per_sample: tuple, data: str) -> tuple[tuple, int | None]:
  """(spatial axes, channels or None) of an image (H, W, C) or voxel grid (D, H, W)."""
  if data == "image":
    return per_sample[:-1], per_sample[-1]
  if len(per_sample) != 3:
    raise ValueError(f"{path}: expected voxel shapes (D, H, W) for a 'conv' component, got "
                     f"shape_shape {per_sample} (point clouds take 'linear' or 'ff')")
  return per_sample, None


def build_component(path: str, spec, role: str, data: str, sample_shape: tuple, code: int):
  """One component from its spec.

  Args:
    path: the spec's config path, used in error messages (e.g. "config.model.mapping").
    spec: dict with 'name' and optional fields (see module docstring).
    role: "encoder", "mapping" or "decoder"; data: "image", "shape" or "code".
    sample_shape: per-sample shape of the data the component reads (encoder) or writes
      (decoder); ignored by mappings. code: the code size it writes (encoder, mapping).
  """
  name, f = _fields(path, spec, role)
  out_shape = sample_shape if role == "decoder" else (code,)
  if name == "linear":
    return MLP(out_shape, hidden=f["hidden"], activation="identity")
  if name == "ff":
    return MLP(out_shape, hidden=f["hidden"], activation=f["activation"],
               out_activation=f["out_activation"])
  if name == "alexnet":
    if (role, data) != ("encoder", "image") or tuple(sample_shape) != ALEXNET_INPUT:
      raise ValueError(f"{path}: expected 'alexnet' only as image_encoder on images of shape "
                       f"{ALEXNET_INPUT}, got it as {role} of {data} shape {tuple(sample_shape)}")
    return AlexNetEncoder(code, channels=f["channels"], fc=f["fc"])
  if role == "mapping":
    return ConvMapping(code, channels=f["channels"], kernel=f["kernel"],
                       activation=f["activation"])
  spatial, channels = _spatial_kind(path, tuple(sample_shape), data)
  check_choice(f"{path}.impl", f["impl"], CONV_IMPLS)
  if role == "encoder":
    return ConvEncoder(code, spatial_dims=len(spatial), channels=f["channels"],
                       kernel=f["kernel"], activation=f["activation"], impl=f["impl"])
  return ConvDecoder(spatial, out_channels=channels, channels=f["channels"], kernel=f["kernel"],
                     activation=f["activation"], out_activation=f["out_activation"],
                     impl=f["impl"])


def build_model(model_config, path: str = "config.model") -> Framework:
  """A :class:`Framework` from ``config.model`` (see the module docstring for its fields)."""
  missing = [k for k in REQUIRED if k not in model_config]
  if missing:
    raise ValueError(f"{path}: expected fields {list(REQUIRED)}, missing {missing}")
  image_shape = tuple(model_config["image_shape"])
  shape_shape = tuple(model_config["shape_shape"])
  recon_shape = tuple(model_config.get("recon_shape") or image_shape)
  if len(image_shape) != 3 or len(recon_shape) != 3 or recon_shape[-1] != image_shape[-1]:
    raise ValueError(f"{path}: expected image_shape and recon_shape (H, W, C) with equal C, got "
                     f"{image_shape} and {recon_shape}")
  if len(shape_shape) not in (2, 3) or (len(shape_shape) == 2 and shape_shape[1] != 3):
    raise ValueError(f"{path}.shape_shape: expected (V, 3) points or (D, H, W) voxels, got "
                     f"{shape_shape}")
  codes = {"image": check_positive_int(f"{path}.image_code", model_config["image_code"]),
           "shape": check_positive_int(f"{path}.shape_code", model_config["shape_code"])}
  samples = {"image_encoder": image_shape, "image_decoder": recon_shape, "mapping": (),
             "shape_encoder": shape_shape, "shape_decoder": shape_shape}
  writes = {"image_encoder": codes["image"], "mapping": codes["shape"],
            "shape_encoder": codes["shape"]}
  parts = {slot: build_component(f"{path}.{slot}", model_config[slot], role, data,
                                 samples[slot], writes.get(slot, 0))
           for slot, (role, data) in SLOTS.items()}
  return Framework(**parts, image_shape=image_shape, shape_shape=shape_shape,
                   recon_shape=recon_shape)
