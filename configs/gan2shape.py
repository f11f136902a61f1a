"""GAN2Shape on held-out face renders, scored against their ground-truth depth.

    python -m launch.main --config configs/stylegan2.py --workdir workdirs/stylegan2_cpu
    python -m launch.main --config configs/gan2shape.py --workdir workdirs/gan2shape_cpu
    python -m launch.main --config configs/gan2shape.py:runlocal --workdir /tmp/g2s

arg: comma-separated; ``dataset=procedural_faces|ict_faces`` (the faces the labelled renders
are drawn from: the GAN's own), ``variant=cpu|published`` (``method_config``'s settings) and
``runlocal``.
- cpu (default): the stylegan2 job's CPU GAN, 16 test images, 4 side by side.
- published: GAN2Shape's published step counts and widths (hours per image on a CPU).
- runlocal: a 16x16 GAN, 2 images, a few steps: with ``gan_workdir=""`` the stylegan2 job's
  runlocal config is trained first into workdir/gan.
"""
import ml_collections

from configs import common
from inverse3d.gan2shape.defaults import method_config


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", variant="cpu", runlocal=False,
                         choices={"dataset": ("procedural_faces", "ict_faces"),
                                  "variant": ("cpu", "published")})
  config = ml_collections.ConfigDict()
  config.job = "gan2shape"
  config.seed = 0
  config.data_dir = ""          # where face_model_ict.npz lies ("" for ../shared/data)
  config.dataset = arg.dataset
  # The stylegan2 job's workdir: generator.npz, discriminator.npz, inversion/encoder.npz and
  # data/test.npz (the held-out renders with ground truth).
  config.gan_workdir = "workdirs/stylegan2_cpu"
  config.method = method_config("runlocal" if arg.runlocal else arg.variant)

  config.eval = ml_collections.ConfigDict()
  config.eval.images = 16       # the last 16 test renders (the issue asks >= 16)
  config.eval.batch = 4         # images reconstructed side by side per reconstruct call

  # Labelled renders for the mask net and the two depth baselines: the train split of
  # face_image_splits(seed) with a seed other than the GAN's data (stylegan2's data.seed 0).
  config.labelled = ml_collections.ConfigDict()
  config.labelled.seed = 1
  config.labelled.n = 2000
  config.mask = ml_collections.ConfigDict({"steps": 300, "batch": 16, "lr": 3e-3})
  config.supervised = ml_collections.ConfigDict({"steps": 1500, "batch": 16, "lr": 1e-3,
                                                 "nf": 32, "zdim": 128})

  if arg.runlocal:
    config.gan_workdir = ""     # train the stylegan2 runlocal GAN into workdir/gan first
    config.eval.images, config.eval.batch = 2, 2
    config.labelled.n = 64
    config.mask.steps, config.mask.batch = 60, 8   # enough for masks with a foreground
    config.supervised.steps, config.supervised.batch = 3, 4
    config.supervised.nf, config.supervised.zdim = 8, 16
  return config
