"""The method's settings: ``method_config(variant)`` -> the ConfigDict ``reconstruct`` takes.

"published": GAN2Shape's synthetic-face (BFM, 64x64) settings from its public code: one
stage of 1000 depth-prior steps, 500 / 500 / 200 steps of steps 1 / 2 / 3, 1600 pseudo
samples per stage seen 16 at a time, Adam lr 1e-4 with weight decay 5e-4, nets of width 64.
"cpu": sized for one 64x64 image in minutes on 2 CPU cores (narrower nets, fewer steps and
pseudo samples, a larger learning rate for the shorter schedule). "runlocal": seconds.
"""
import ml_collections

VARIANTS = ("published", "cpu", "runlocal")


def method_config(variant: str = "cpu") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
  c = ml_collections.ConfigDict()
  c.stages = 1
  c.weight_decay = 5e-4
  c.log_every = 25
  c.nets = ml_collections.ConfigDict({"nf": 64, "zdim": 256, "encoder_nf": 64})
  c.loss = ml_collections.ConfigDict({"perceptual_weight": 0.5, "smooth_weight": 0.01})
  c.prior = ml_collections.ConfigDict({
      "depth_steps": 1000, "steps": 500, "lr": 1e-4,
      "near": 0.91, "far": 1.02, "raise_top": 1.0 / 6.0, "threshold": 0.7})
  c.pseudo = ml_collections.ConfigDict({
      "samples": 1600, "batch": 16, "steps": 500, "lr": 1e-4,
      "feature_weight": 1.0, "offset_weight": 0.01,
      # synthetic-face light ranges; views: zero mean, these standard deviations (radians,
      # depth units) for [pitch, yaw, roll, tx, ty, tz], the yaw then scaled
      "light_dx": (-0.9, 0.9), "light_dy": (-0.3, 0.8), "strength": (-0.1, 0.7),
      "ambient_scale": -0.6, "view_std": (0.1, 0.3, 0.03, 0.02, 0.02, 0.0), "yaw_scale": 1.2})
  c.shape = ml_collections.ConfigDict({"steps": 200, "batch": 16, "lr": 1e-4})
  if variant == "cpu":
    c.nets.nf, c.nets.zdim, c.nets.encoder_nf = 32, 128, 32
    c.prior.depth_steps, c.prior.steps, c.prior.lr = 300, 150, 5e-4
    c.pseudo.samples, c.pseudo.batch, c.pseudo.steps, c.pseudo.lr = 64, 8, 150, 3e-4
    c.shape.steps, c.shape.batch, c.shape.lr = 150, 8, 3e-4
  elif variant == "runlocal":
    c.log_every = 1
    c.nets.nf, c.nets.zdim, c.nets.encoder_nf = 8, 16, 8
    c.prior.depth_steps, c.prior.steps = 3, 2
    c.pseudo.samples, c.pseudo.batch, c.pseudo.steps = 4, 2, 2
    c.shape.steps, c.shape.batch = 2, 2
  return c
