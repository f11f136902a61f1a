"""The data-parallel step (the mapping's RMSE step against a NumPy float64 gradient; any loss
with aux metrics; 1 vs 2 faked CPU devices), optimisers and schedules from configs, and the
batch order."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from inverse3d.mapping import (TRAINABLE, build_model, default_config, labeled_rows,
                               stage_step)
from inverse3d.train.input import GlobalOrder
from inverse3d.train import (DataParallel, build_optimizer, build_schedule, create_state,
                             make_train_step)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def linear_model():
  """Linear encoder 64-6, mapping 6-5, decoder 5-30 (10 points) on 8x8x1 images."""
  config = default_config("points", shape_shape=(10, 3), image_shape=(8, 8, 1),
                          image_encoder="linear", mapping="linear", shape_decoder="linear").model
  config.image_code, config.shape_code = 6, 5
  config.mapping.hidden = ()
  model = build_model(config)
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32),
                          np.zeros((1, 10, 3), np.float32))["params"]
  params = jax.tree.map(lambda s: (0.3 * rng.standard_normal(s.shape)).astype(np.float32), shapes)
  return model, params


def numpy_rmse_gradient(p, x, t):
  """RMSE of the linear chain and its gradient w.r.t. the three layers, in float64."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
  w1, b1 = p["image_encoder"]["out"]["kernel"], p["image_encoder"]["out"]["bias"]
  w2, b2 = p["mapping"]["out"]["kernel"], p["mapping"]["out"]["bias"]
  w3, b3 = p["shape_decoder"]["out"]["kernel"], p["shape_decoder"]["out"]["bias"]
  x = x.reshape(len(x), -1).astype(np.float64)
  t = t.reshape(len(t), -1).astype(np.float64)
  y = x @ w1 + b1
  b = y @ w2 + b2
  z = b @ w3 + b3
  loss = np.sqrt(np.mean((z - t) ** 2))
  dz = (z - t) / (z.size * loss)
  db = dz @ w3.T
  dy = db @ w2.T
  grads = {"image_encoder": {"out": {"kernel": x.T @ dy, "bias": dy.sum(0)}},
           "mapping": {"out": {"kernel": y.T @ db, "bias": db.sum(0)}},
           "shape_decoder": {"out": {"kernel": b.T @ dz, "bias": dz.sum(0)}}}
  return loss, grads


def test_step_is_sgd_on_the_rmse_gradient():
  model, params = linear_model()
  rng = np.random.default_rng(1)
  batch = {"images": rng.random((8, 8, 8, 1), dtype=np.float32),
           "shapes": rng.random((8, 10, 3), dtype=np.float32)}
  lr = 0.1
  optimizer = optax.sgd(lr)
  dp = DataParallel()
  run = dp.compile(stage_step(model, "finetune", optimizer))
  state = dp.replicate(create_state(params, optimizer, TRAINABLE["finetune"]))
  state, metrics = run(state, dp.shard(batch))
  new = jax.device_get(state.params)
  loss, grads = numpy_rmse_gradient(params, batch["images"], batch["shapes"])
  np.testing.assert_allclose(float(metrics["loss"]), loss, rtol=1e-5)
  norm = np.sqrt(sum(np.sum(np.square(g["out"][k])) for g in grads.values() for k in g["out"]))
  np.testing.assert_allclose(float(metrics["grad_norm"]), norm, rtol=1e-5)
  for component, g in grads.items():
    for name in ("kernel", "bias"):
      want = np.asarray(params[component]["out"][name], np.float64) - lr * g["out"][name]
      np.testing.assert_allclose(new[component]["out"][name], want, rtol=1e-5, atol=1e-6)
  for frozen in ("image_decoder", "shape_encoder"):
    for a, b in zip(jax.tree.leaves(new[frozen]), jax.tree.leaves(params[frozen])):
      np.testing.assert_array_equal(a, b)
  assert int(state.step) == 1


def test_step_without_grad_norm_makes_the_same_update():
  model, params = linear_model()
  rng = np.random.default_rng(2)
  batch = {"images": rng.random((8, 8, 8, 1), dtype=np.float32),
           "shapes": rng.random((8, 10, 3), dtype=np.float32)}
  optimizer = optax.adam(1e-2)
  dp = DataParallel()
  results = {}
  for grad_norm in (True, False):
    run = dp.compile(stage_step(model, "finetune", optimizer, grad_norm=grad_norm))
    state = dp.replicate(create_state(params, optimizer, TRAINABLE["finetune"]))
    state, metrics = run(state, dp.shard(batch))
    results[grad_norm] = jax.device_get((state.params, metrics))
  assert set(results[False][1]) == {"loss"} and set(results[True][1]) == {"loss", "grad_norm"}
  assert results[False][1]["loss"] == results[True][1]["loss"]
  for a, b in zip(jax.tree.leaves(results[False][0]), jax.tree.leaves(results[True][0])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


TWO_DEVICES = r"""
import json
import jax, numpy as np, optax
from inverse3d.mapping import TRAINABLE, build_model, default_config, init_params, stage_step
from inverse3d.train import DataParallel, create_state
assert jax.device_count() == 2, jax.devices()
config = default_config("points", shape_shape=(10, 3), image_shape=(8, 8, 1),
                        image_encoder="ff", mapping="ff", shape_decoder="ff").model
config.image_code, config.shape_code = 6, 5
model = build_model(config)
params = jax.device_get(init_params(model, jax.random.key(0)))
rng = np.random.default_rng(0)
batches = [{"images": rng.random((8, 8, 8, 1), dtype=np.float32),
            "shapes": rng.random((8, 10, 3), dtype=np.float32)} for _ in range(4)]
optimizer = optax.adam(1e-2)
results = {}
for n in (1, 2):
  dp = DataParallel(jax.devices()[:n])
  run = dp.compile(stage_step(model, "finetune", optimizer))
  state = dp.replicate(create_state(params, optimizer, TRAINABLE["finetune"]))
  losses = []
  for batch in batches:
    state, metrics = run(state, dp.shard(batch))
    losses.append(float(metrics["loss"]))
  results[n] = (jax.device_get(state.params), losses)
ref_params, ref_losses = results[1]
def max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
out = {k: {"params": max_diff(p, ref_params),
           "losses": max(abs(a - b) for a, b in zip(l, ref_losses))}
       for k, (p, l) in results.items()}
out["moved"] = max_diff(ref_params, params)
try:
  DataParallel().local_rows(3)
except ValueError as e:
  out["error"] = str(e)
print("RESULT " + json.dumps(out))
"""


def test_one_and_two_devices_give_the_same_parameters():
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-c", TWO_DEVICES], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  out = json.loads(line[len("RESULT "):])
  assert out["moved"] > 1e-3  # 4 Adam steps really changed the parameters
  assert out["2"]["params"] < 1e-5 and out["2"]["losses"] < 1e-5, out["2"]
  assert out["error"] == "batch_size: expected a multiple of the 2 devices, got 3"


def optimizer_config(**changes):
  config = ml_collections.ConfigDict(default_config().train.optimizer.to_dict())
  config.update(changes)
  return config


def test_schedules_follow_the_config():
  paper = build_schedule(optimizer_config(), 100)  # 1e-3 for half the steps, then 1e-5
  assert [float(paper(s)) for s in (0, 49, 50, 99)] == pytest.approx([1e-3, 1e-3, 1e-5, 1e-5])
  two = build_schedule(optimizer_config(boundaries=(0.25, 0.75), scales=(0.1, 0.5)), 100)
  assert [float(two(s)) for s in (24, 25, 75)] == pytest.approx([1e-3, 1e-4, 5e-5])
  cosine = build_schedule(optimizer_config(schedule="cosine"), 10)
  assert [float(cosine(s)) for s in (0, 5, 10)] == pytest.approx([1e-3, 5e-4, 0], abs=1e-9)
  assert float(build_schedule(optimizer_config(schedule="constant"), 10)(7)) == pytest.approx(1e-3)


def test_optimizers_update_as_defined():
  params = {"w": np.array([1.0, -2.0], np.float32)}
  grads = {"w": np.array([0.5, 4.0], np.float32)}
  sgd = build_optimizer(optimizer_config(name="sgd", momentum=0.0, schedule="constant",
                                         learning_rate=0.1), 10)
  updates, _ = sgd.update(grads, sgd.init(params), params)
  np.testing.assert_allclose(updates["w"], [-0.05, -0.4], rtol=1e-6)
  clipped = build_optimizer(optimizer_config(name="sgd", momentum=0.0, schedule="constant",
                                             learning_rate=1.0, clip_norm=1.0), 10)
  updates, _ = clipped.update(grads, clipped.init(params), params)
  np.testing.assert_allclose(np.linalg.norm(updates["w"]), 1.0, rtol=1e-5)
  adam = build_optimizer(optimizer_config(schedule="constant"), 10)
  updates, _ = adam.update(grads, adam.init(params), params)  # first Adam step: -lr * sign(g)
  np.testing.assert_allclose(updates["w"], [-1e-3, -1e-3], rtol=1e-4)


@pytest.mark.parametrize("changes, message", [
    ({"name": "lbfgs"}, "config.train.optimizer.name: expected one of"),
    ({"schedule": "step"}, "config.train.optimizer.schedule: expected one of"),
    ({"boundaries": (0.5, 1.5), "scales": (0.1, 0.1)}, "expected increasing boundaries in (0, 1)"),
    ({"learning_rate": -1.0}, "learning_rate: expected a positive number"),
])
def test_bad_optimizer_configs_raise_clear_errors(changes, message):
  with pytest.raises(ValueError) as err:
    build_optimizer(optimizer_config(**changes), 10)
  assert message in str(err.value)


def test_batch_order_covers_each_epoch_once_and_is_reproducible():
  key = jax.random.key(3)
  order = GlobalOrder(key, 10, 3)  # 3 batches per epoch, 1 example left out each epoch
  epoch0 = np.concatenate([order.rows(s) for s in range(3)])
  epoch1 = np.concatenate([order.rows(s) for s in range(3, 6)])
  assert len(set(epoch0)) == 9 and len(set(epoch1)) == 9
  assert not np.array_equal(epoch0, epoch1)
  again = GlobalOrder(key, 10, 3)
  np.testing.assert_array_equal(again.rows(4), order.rows(4))  # any step, in any order
  with pytest.raises(ValueError, match="batch_size: expected at most the 2 examples, got 3"):
    GlobalOrder(key, 2, 3)


def test_labeled_rows_take_the_configured_fraction():
  rows = labeled_rows(jax.random.key(0), 40, 0.25)
  assert len(rows) == 10 and len(set(rows)) == 10 and rows.max() < 40
  assert np.all(np.diff(rows) > 0)
  np.testing.assert_array_equal(labeled_rows(jax.random.key(0), 40, 1.0), np.arange(40))
  with pytest.raises(ValueError, match=r"labeled_fraction: expected a number in \(0, 1\]"):
    labeled_rows(jax.random.key(0), 40, 0.0)


def test_step_takes_any_loss_with_aux_metrics():
  """A plain least-squares loss (no loss_of_mean) with an aux metric, against NumPy."""
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
  params = {"w": {"kernel": rng.standard_normal(4).astype(np.float32)}, "frozen": {"b": np.ones(1)}}

  def loss_fn(p, batch):
    residual = batch["x"] @ p["w"]["kernel"] + p["frozen"]["b"][0] - batch["y"]
    return jnp.mean(residual ** 2), {"mae": jnp.mean(jnp.abs(residual))}

  dp = DataParallel()
  run = dp.compile(make_train_step(loss_fn, optax.sgd(0.1), has_aux=True))
  state = dp.replicate(create_state(params, optax.sgd(0.1), ("w",)))
  state, metrics = run(state, dp.shard({"x": x, "y": y}))
  residual = x.astype(np.float64) @ params["w"]["kernel"] + 1.0 - y
  np.testing.assert_allclose(float(metrics["loss"]), np.mean(residual ** 2), rtol=1e-5)
  np.testing.assert_allclose(float(metrics["mae"]), np.mean(np.abs(residual)), rtol=1e-5)
  want = params["w"]["kernel"] - 0.1 * (2 * x.T @ residual / len(x))
  np.testing.assert_allclose(np.asarray(state.params["w"]["kernel"]), want, rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(state.params["frozen"]["b"]), 1.0)
