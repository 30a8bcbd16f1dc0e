"""The conv base network (metaunsup/conv/network.py): a conv layer's patches are laid out as
its weights' rows (checked against XLA's own patches and convolution), the forward pass the
rule reads (patches) and the features' (convolutions) agree, batch norm is per channel,
pooling is max or mean, and the parameters start as the MLP's do. Each test is one jitted
program: eager ops would compile one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup.conv import layers, network
from helpers import assert_close_at_scale

DIMS = ("NHWC", "HWIO", "NHWC")
SPECS = ("conv3x2:4", "conv3x3s2same:4", "conv4x4s3:4", "conv2x2same:4")
ARCH = network.architecture(
  ("conv3x3:4", "maxpool2", "conv2x2same:3", "avgpool2", "dense:5"), (9, 10, 2)
)


@pytest.fixture(scope="module")
def params():
  return jax.jit(network.init, static_argnums=1)(jax.random.PRNGKey(0), ARCH)


def test_patches_are_xla_s_in_the_weights_row_order():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 8, 3))
  w = jax.random.normal(jax.random.PRNGKey(1), (16 * 3, 5))

  @jax.jit
  def each(x, w):
    out = []
    for layer in layers.parse(SPECS):
      (kh, kw), s = layer.kernel, (layer.stride, layer.stride)
      pads = layers.same_padding(layer, (7, 8))
      xla = jax.lax.conv_general_dilated_patches(x, layer.kernel, s, pads, dimension_numbers=DIMS)
      # XLA orders a patch (input channel, kernel row, kernel column); W's rows are (kernel
      # row, kernel column, input channel), the HWIO kernel flattened.
      reordered = xla.reshape(xla.shape[:3] + (3, kh * kw)).swapaxes(-1, -2).reshape(xla.shape)
      wl = w[: kh * kw * 3]
      conv = jax.lax.conv_general_dilated(
        x, wl.reshape(kh, kw, 3, 5), s, pads, dimension_numbers=DIMS
      )
      got = network.patches(x, layer)
      out.append((got, reordered, got @ wl, network.convolve(x, wl, layer), conv))
    return out

  for spec, (got, reordered, product, convolved, conv) in zip(SPECS, each(x, w)):
    # Copies of the same pixels: equal exactly.
    np.testing.assert_array_equal(got, reordered, err_msg=spec)
    # Sums of kh * kw * 3 products in another order: float32 rounding of the largest terms.
    assert_close_at_scale(product, conv, rel=1e-5, err_msg=spec)
    assert_close_at_scale(convolved, conv, rel=1e-6, err_msg=spec)


def test_architecture_shapes_and_parameters(params):
  assert ARCH.shapes == ((9, 10, 2), (7, 8, 4), (3, 4, 4), (3, 4, 3), (1, 2, 3), (5,))
  assert ARCH.trainable == (0, 2, 4)
  assert [ARCH.fan_in(l) for l in range(3)] == [18, 16, 6] and ARCH.feature_dim == 5
  assert [w.shape for w in params.W] == [(18, 4), (16, 3), (6, 5)]
  assert [b.shape for b in params.b] == [(4,), (3,), (5,)]
  for w in params.W:  # unit rms per column, as base_model.init
    np.testing.assert_allclose(np.sqrt(np.mean(np.square(w), axis=0)), 1.0, rtol=1e-5)
  assert network.architecture(list(ARCH.layers), [9, 10, 2]) == ARCH  # hashable, comparable


def test_forward_pass_with_patches_and_features_by_convolutions_agree(params):
  x = jax.random.normal(jax.random.PRNGKey(1), (6, 9, 10, 2))

  @jax.jit
  def both(params, x):
    acts = network.apply(ARCH, params, x, "relu")
    stats = network.statistics(ARCH, params, x, "relu")
    return (
      acts,
      network.features(ARCH, params, x, "relu"),
      stats,
      network.features(ARCH, params, x[2:3], "relu", stats),
      network.features(ARCH, params, x, "relu", stats),
    )

  acts, feats, stats, one, with_stats = both(params, x)
  assert [a.shape for a in acts.inputs] == [(6 * 56, 18), (6 * 12, 16), (6, 6)]
  assert [a.shape for a in acts.outputs] == [(6 * 56, 4), (6 * 12, 3), (6, 5)]
  np.testing.assert_array_equal(acts.outputs[-1], acts.features)
  # Two programs summing in another order (patches @ W vs XLA's convolution), then
  # normalised by batch norm: float32 rounding at the scale of the features.
  assert_close_at_scale(feats, acts.features, rel=1e-5)
  assert_close_at_scale(stats, acts.stats, rel=1e-5)
  # With statistics of a reference batch, one image's features do not depend on the rest.
  assert_close_at_scale(one, with_stats[2:3], rel=1e-6)


def test_batch_norm_is_per_channel_over_examples_and_positions(params):
  x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(1), (5, 9, 10, 2))
  z = jax.jit(lambda p, x: network.apply(ARCH, p, x, lambda v: v).outputs[0])(params, x)
  np.testing.assert_allclose(np.mean(z, axis=0), params.b[0], atol=1e-5)
  np.testing.assert_allclose(np.var(z, axis=0), 1.0, rtol=1e-3)


def test_pooling_is_max_or_mean_over_windows():
  x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3) % 7.0
  blocks = x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3)  # the last row and column fill no window
  got_max = network.pool(jnp.asarray(x), layers.Pool("max", 2, 2))
  got_avg = network.pool(jnp.asarray(x), layers.Pool("avg", 2, 2))
  np.testing.assert_array_equal(got_max, blocks.max(axis=(2, 4)))
  np.testing.assert_allclose(got_avg, blocks.mean(axis=(2, 4)), rtol=1e-6)


def test_images_of_another_shape_are_one_line(params):
  with pytest.raises(
    ValueError, match=r"images must be \[N, H, W, C\] with \(H, W, C\) = \(9, 10, 2\)"
  ):
    network.apply(ARCH, params, jnp.zeros((4, 10, 9, 2)), "relu")
