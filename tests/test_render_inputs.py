"""Bad input to the renderer raises errors naming the argument; out-of-range depth is clamped;
device arrays go in without a host read."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inverse3d.checks import debug_values
from inverse3d.render import depth_to_normals, render_mesh, render_view, shade

B, H, W = 2, 6, 7
DEPTH = np.ones((B, H, W), np.float32)
IMAGE = np.full((B, H, W, 3), 0.5, np.float32)
VIEW = np.zeros((B, 6), np.float32)
NORMALS = np.tile(np.array([0, 0, 1], np.float32), (B, H, W, 1))
LIGHT = np.array([[0.5, 0.5, 0, 0]] * B, np.float32)


def with_nan(x):
  x = np.array(x)
  x.flat[3] = np.nan
  return x


@pytest.mark.parametrize("call,pattern", [
    (lambda: depth_to_normals(DEPTH[0]), r"depth: expected shape \(B, H, W\), got \(6, 7\)"),
    (lambda: depth_to_normals(DEPTH[:, :1]), r"depth: expected H, W >= 2"),
    (lambda: depth_to_normals(with_nan(DEPTH)), r"depth: expected finite values"),
    (lambda: depth_to_normals(DEPTH, fov_deg=0.0), r"fov_deg: expected values in \(0.0, 180.0\)"),
    (lambda: depth_to_normals(DEPTH, fov_deg=180.0), r"fov_deg: expected values in \(0.0, 180"),
    (lambda: shade(NORMALS[..., :2], IMAGE, LIGHT), r"normals: expected shape \(B, H, W, 3\)"),
    (lambda: shade(NORMALS, IMAGE[:1], LIGHT), r"albedo: expected shape \(2, 6, 7, \?\)"),
    (lambda: shade(NORMALS, IMAGE, LIGHT[:, :3]), r"light: expected shape \(2, 4\), got \(2, 3\)"),
    (lambda: shade(NORMALS, IMAGE, LIGHT[0]), r"light: expected shape \(2, 4\), got \(4,\)"),
    (lambda: shade(NORMALS, IMAGE + 1, LIGHT), r"albedo: expected values in \[0.0, 1.0\]"),
    (lambda: shade(NORMALS, IMAGE, with_nan(LIGHT)), r"light: expected finite values"),
    (lambda: shade(with_nan(NORMALS), IMAGE, LIGHT), r"normals: expected finite values"),
    (lambda: render_view(DEPTH, IMAGE[..., 0], VIEW), r"image: expected shape \(2, 6, 7, \?\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW[:, :3]),
     r"view: expected shape \(2, 6\), got \(2, 3\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW[:1]), r"view: expected shape \(2, 6\), got \(1, 6\)"),
    (lambda: render_view(DEPTH[..., None], IMAGE, VIEW), r"depth: expected shape \(B, H, W\)"),
    (lambda: render_view(DEPTH, IMAGE, with_nan(VIEW)), r"view: expected finite values"),
    (lambda: render_view(DEPTH, with_nan(IMAGE), VIEW), r"image: expected finite values"),
    (lambda: render_view(with_nan(DEPTH), IMAGE, VIEW), r"depth: expected finite values"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=-5), r"fov_deg: expected values in \(0"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=np.nan), r"fov_deg: expected values in"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, mask="fuzzy"), r"mask: expected one of \['hard'"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, capacity=0), r"capacity: expected values in \(0"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, mask="soft", soft_sigma=0),
     r"soft_sigma: expected values in \(0"),
    (lambda: render_mesh(np.zeros((1, 3, 3)), [[0, 1, 5]], np.zeros((1, 3, 1)), 4, 4),
     r"triangles: expected values in \[0, 2\], got \[0, 5\]"),
    (lambda: render_mesh(np.zeros((1, 3, 3)), [[0.0, 1, 2]], np.zeros((1, 3, 1)), 4, 4),
     r"triangles: expected a signed integer or unsigned integer array, got dtype float64"),
    (lambda: render_mesh(np.zeros((1, 3, 3)), [[0, 1, 2]], np.zeros((1, 4, 1)), 4, 4),
     r"colours: expected shape \(1, 3, \?\), got \(1, 4, 1\)"),
])
def test_bad_input_names_the_argument(call, pattern):
  with pytest.raises(ValueError, match=pattern):
    call()


def test_depth_outside_the_range_is_clamped_not_nan():
  wild = np.array(DEPTH)
  wild[0, 0, :3] = [-5.0, 0.0, 7.0]
  wild[1] = 50.0
  clamped = np.clip(wild, 0.9, 1.1)
  np.testing.assert_allclose(depth_to_normals(wild), depth_to_normals(clamped))
  for a, b in zip(render_view(wild, IMAGE, VIEW + 0.1), render_view(clamped, IMAGE, VIEW + 0.1)):
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b)
  _, depth, _ = render_view(wild, IMAGE, VIEW)
  np.testing.assert_allclose(depth, clamped, atol=1e-6)


MESH = (np.array([[[-0.1, -0.1, -1.0], [0.1, -0.1, -1.0], [0.0, 0.1, -1.0]]], np.float32),
        np.array([[0, 1, 2]], np.int32), np.ones((1, 3, 1), np.float32))
CALLS = {  # name -> (function, positional inputs, keyword arguments)
    "shade": (shade, (NORMALS, IMAGE, LIGHT), {}),
    "depth_to_normals": (depth_to_normals, (DEPTH,), {}),
    "render_view": (render_view, (DEPTH, IMAGE, VIEW + 0.05), {}),
    "render_view soft": (render_view, (DEPTH, IMAGE, VIEW), {"mask": "soft"}),
    "render_mesh": (render_mesh, MESH, {"height": 8, "width": 8}),
}


@pytest.mark.parametrize("name", CALLS)
def test_device_inputs_make_no_host_reads(count_host_reads, name):
  fn, inputs, kwargs = CALLS[name]
  device = [jnp.asarray(x) for x in inputs]
  fn(*device, **kwargs)  # compiles on the first call: no read either
  out = fn(*device, **kwargs)
  assert count_host_reads.count == 0, count_host_reads.sites
  jax.block_until_ready(out)
  assert count_host_reads.count == 0, count_host_reads.sites


@pytest.mark.parametrize("name", CALLS)
def test_nan_rejected_for_numpy_and_for_device_arrays_under_the_debug_switch(count_host_reads,
                                                                             name):
  fn, inputs, kwargs = CALLS[name]
  first = "vertices" if name == "render_mesh" else fn.__code__.co_varnames[0]
  bad = [with_nan(inputs[0]), *inputs[1:]]
  with pytest.raises(ValueError, match=f"^{first}: expected finite values, got 1 NaN or inf"):
    fn(*bad, **kwargs)
  device = [jnp.asarray(x) for x in bad]
  jax.block_until_ready(fn(*device, **kwargs))  # not checked: NaN goes through, no read
  assert count_host_reads.count == 0, count_host_reads.sites
  with debug_values():
    with pytest.raises(ValueError, match=f"^{first}: expected finite values, got 1 NaN or inf"):
      fn(*device, **kwargs)
  assert count_host_reads.count >= 1


def test_debug_switch_checks_the_renderer_under_jit():
  with debug_values():
    normals = jax.jit(depth_to_normals)
    jax.block_until_ready(normals(DEPTH))
    with pytest.raises(jax.errors.JaxRuntimeError, match="depth: expected finite values"):
      jax.block_until_ready(normals(with_nan(DEPTH)))


@pytest.mark.parametrize("call,pattern", [
    (lambda: shade(NORMALS.astype(np.complex64), IMAGE, LIGHT),
     "normals: expected a bool or signed integer or unsigned integer or float array, got "
     "dtype complex64"),
    (lambda: shade(NORMALS, IMAGE.astype(np.complex64), LIGHT), "albedo: expected a bool or"),
    (lambda: shade(NORMALS, IMAGE, jnp.asarray(LIGHT, jnp.complex64)),
     "light: expected a bool or .* got dtype complex64"),
    (lambda: depth_to_normals(DEPTH.astype(np.complex128)),
     "depth: expected a signed integer or unsigned integer or float array, got dtype complex128"),
    (lambda: depth_to_normals(jnp.asarray(DEPTH, jnp.complex64)),
     "depth: expected a signed .* got dtype complex64"),
    (lambda: render_view(DEPTH.astype(np.complex64), IMAGE, VIEW), "depth: expected a signed"),
    (lambda: render_view(DEPTH, IMAGE.astype(np.complex64), VIEW), "image: expected a bool or"),
    (lambda: render_view(DEPTH, IMAGE, VIEW.astype(np.complex64)), "view: expected a bool or"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=10 + 1j), "fov_deg: expected a signed"),
    (lambda: render_mesh(MESH[0].astype(np.complex64), *MESH[1:], 8, 8),
     "vertices: expected a bool or"),
    (lambda: render_mesh(*MESH[:2], MESH[2].astype(np.complex64), 8, 8),
     "colours: expected a bool or"),
])
def test_complex_input_is_rejected(call, pattern):
  with pytest.raises(ValueError, match=pattern):
    call()


@pytest.mark.parametrize("call,pattern", [
    (lambda: depth_to_normals(DEPTH, depth_range=(np.nan, 1.1)),
     r"depth_range: expected finite \(low, high\) with low < high in \[0.001, inf\], got "
     r"\(nan, 1.1\)"),
    (lambda: depth_to_normals(DEPTH, depth_range=(1.1, 0.9)),
     r"depth_range: expected finite \(low, high\) with low < high .*got \(1.1, 0.9\)"),
    (lambda: depth_to_normals(DEPTH, depth_range=(0.9, np.inf)), r"depth_range: expected finite"),
    (lambda: depth_to_normals(DEPTH, depth_range=(0.0, 1.0)),
     r"depth_range: expected finite .* in \[0.001, inf\], got \(0.0, 1.0\)"),
    (lambda: depth_to_normals(DEPTH, depth_range=(0.9,)),
     r"depth_range: expected a pair \(low, high\), got \(0.9,\)"),
    (lambda: depth_to_normals(DEPTH, fov_deg=np.inf), r"fov_deg: expected values in \(0.0, 180"),
    (lambda: depth_to_normals(DEPTH, fov_deg=np.full(2, 10.0)),
     r"fov_deg: expected shape \(\), got \(2,\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, depth_range=(0.9, np.nan)),
     r"depth_range: expected finite \(low, high\)"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, centre_depth=np.nan),
     r"centre_depth: expected finite values"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, fov_deg=np.inf), r"fov_deg: expected values in"),
    (lambda: render_view(DEPTH, IMAGE, VIEW, capacity=np.inf), r"capacity: expected values in"),
    (lambda: render_mesh(*MESH, 8, 8, fov_deg=np.nan), r"fov_deg: expected values in"),
    (lambda: render_mesh(*MESH, 8, 8, background_depth=np.inf),
     r"background_depth: expected finite values"),
    (lambda: render_mesh(*MESH, 10 ** 6, 8),
     r"height: expected an integer in \[2, 4096\], got 1000000 \(the rasteriser lays out"),
    (lambda: render_mesh(*MESH, 8, 5000), r"width: expected an integer in \[2, 4096\]"),
])
def test_bad_float_settings_name_the_argument(call, pattern):
  with pytest.raises(ValueError, match=pattern):
    call()
