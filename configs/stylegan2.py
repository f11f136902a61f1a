"""StyleGAN2 on the project's face images: the 2D image generator GAN2Shape starts from.

    python -m launch.main --config configs/stylegan2.py --workdir workdirs/stylegan2_cpu
    python -m launch.main --config configs/stylegan2.py:variant=gpu --workdir workdirs/stylegan2_gpu
    python -m launch.main --config configs/stylegan2.py:runlocal --workdir /tmp/g

arg: comma-separated; ``dataset=procedural_faces|ict_faces`` (faces of the procedural model or
of the real ICT model, ../shared/data), ``variant=cpu|gpu`` and ``runlocal``.
- cpu (default): 64x64, narrow (64 feature maps at most, 16 at 64x64; w 256-d), batch 16: sized
  to train on 2 CPU cores in at most 90 minutes (a killed run resumes).
- gpu: 64x64 at the published width (rosinality's channel multiplier 2: 512 feature maps;
  w 512-d), batch 32.
- runlocal: 16x16, tiny, a few iterations: seconds.
Settings start from StyleGAN2's small-resolution ones: Adam lr 0.0025, betas (0, 0.99), lazy
R1 every 16 iterations with gamma = 0.0002 R^2 / batch (StyleGAN2-ADA's rule), EMA half-life
batch * 10 / 32 thousand images, style mixing 0.9, mirrored reals; no path-length term.
"""
import ml_collections

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset="procedural_faces", variant="cpu", runlocal=False,
                         choices={"dataset": ("procedural_faces", "ict_faces"),
                                  "variant": ("cpu", "gpu")})
  config = ml_collections.ConfigDict()
  config.job = "stylegan2"
  config.seed = 0
  config.data_dir = ""       # where face_model_ict.npz lies ("" for ../shared/data)

  config.data = ml_collections.ConfigDict()
  config.data.dataset = arg.dataset
  config.data.seed = 0       # face_image_splits(seed): the train and test splits
  config.data.n_train = 10000
  config.data.n_test = 2000

  config.model = ml_collections.ConfigDict()
  config.model.resolution = 64
  config.model.channel_base = 1024 if arg.variant == "cpu" else 32768
  config.model.channel_max = 64 if arg.variant == "cpu" else 512
  config.model.style_dim = 256 if arg.variant == "cpu" else 512
  config.model.mapping_layers = 8
  config.model.lr_mul = 0.01

  tc = config.train = ml_collections.ConfigDict()
  tc.batch_size = 16 if arg.variant == "cpu" else 32
  tc.steps = 4000 if arg.variant == "cpu" else 50000
  tc.g_lr = 0.0025
  tc.d_lr = 0.0025
  tc.betas = (0.0, 0.99)
  tc.r1_gamma = 0.0002 * config.model.resolution ** 2 / tc.batch_size
  tc.r1_every = 16
  tc.ema_kimg = tc.batch_size * 10 / 32
  tc.ema_rampup = 0.05
  tc.style_mixing = 0.9
  tc.mirror = True
  tc.log_every = 50
  tc.checkpoint_every = 250
  tc.keep_checkpoints = 2
  tc.eval_every = 250 if arg.variant == "cpu" else 2500   # snapshots and sample grids

  config.figure_samples = 64    # the sample grids (8 x 8)
  config.quality = ml_collections.ConfigDict()
  config.quality.samples = 1000       # generated and real images per Frechet distance
  config.quality.feature_steps = 1500 # steps of the feature network (a pose/light regressor)
  config.inversion = ml_collections.ConfigDict()
  config.inversion.images = 32        # held-out test renders projected onto the generator
  config.inversion.steps = 200        # Adam steps of invert (w and w+)
  config.inversion.lr = 0.05
  config.inversion.encoder_steps = 1000
  config.inversion.encoder_batch = 16

  if arg.runlocal:
    config.data.n_train, config.data.n_test = 64, 32
    config.model.resolution = 16
    config.model.channel_base, config.model.channel_max = 128, 16
    config.model.style_dim, config.model.mapping_layers = 32, 2
    tc.batch_size, tc.steps = 8, 6
    tc.r1_every, tc.log_every, tc.checkpoint_every, tc.eval_every = 4, 2, 3, 3
    tc.r1_gamma = 0.0002 * 16 ** 2 / 8
    config.figure_samples = 16
    config.quality.samples, config.quality.feature_steps = 16, 5
    config.inversion.images, config.inversion.steps = 4, 3
    config.inversion.encoder_steps, config.inversion.encoder_batch = 3, 4
  return config
