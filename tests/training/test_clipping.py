"""The meta-gradient's clip at float32's edges: a finite gradient whose squares overflow is
clipped to its direction (optax's clip made it a zero update that was not counted as
skipped); in range, the clip is optax's bit for bit."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from metaunsup.training import clipping, meta_step


def _meta(**kw):
  return ml_collections.ConfigDict({"clip_norm": 1.0, "learning_rate": 1e-2, **kw})


def test_norm_in_range_is_optax_norm_bit_for_bit():
  tree = {"a": jax.random.normal(jax.random.PRNGKey(0), (5, 3)), "b": jnp.arange(4.0)}
  assert float(clipping.global_norm(tree)) == float(optax.tree.norm(tree))
  updates = jax.tree_util.tree_map(lambda t: 10 * t, tree)
  ours, _ = clipping.clip_by_global_norm(1.0).update(updates, optax.EmptyState())
  theirs, _ = optax.clip_by_global_norm(1.0).update(updates, optax.EmptyState())
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
    np.testing.assert_array_equal(a, b)


def test_norm_of_entries_whose_squares_overflow():
  tree = {"a": jnp.full((10,), 1e20), "b": jnp.full((6,), -1e20)}
  assert not np.isfinite(float(optax.tree.norm(tree)))  # the fault this module exists for
  # One float32 scalar against its exact value: a few eps of its own size.
  np.testing.assert_allclose(float(clipping.global_norm(tree)), 4e20, rtol=1e-6)
  assert float(clipping.global_norm({"a": jnp.zeros(3)})) == 0.0
  assert not np.isfinite(float(clipping.global_norm({"a": jnp.array([1.0, np.inf])})))


def test_overflowing_meta_gradient_is_clipped_to_its_direction_not_zeroed():
  opt = meta_step.make_optimizer(_meta())
  theta = {"a": jnp.ones(3), "b": jnp.zeros(2)}
  sign = {"a": jnp.array([1.0, -1.0, 1.0]), "b": jnp.array([-1.0, 1.0])}
  huge = jax.tree_util.tree_map(lambda s: s * 1e20, sign)
  updates, state = jax.jit(opt.update)(huge, opt.init(theta), theta)
  # The clipped direction of 1e20 * sign is that of sign itself (norm sqrt(5) > clip_norm):
  # the same update, and not counted as skipped.
  same, _ = jax.jit(opt.update)(sign, opt.init(theta), theta)
  assert int(state.total_notfinite) == 0
  for u, v in zip(jax.tree_util.tree_leaves(updates), jax.tree_util.tree_leaves(same)):
    assert np.all(np.abs(np.asarray(u)) > 0)
    # Two inputs that clip to the same float32 vector up to the division's rounding.
    np.testing.assert_allclose(u, v, rtol=1e-6)


def test_infinite_meta_gradient_is_skipped_and_counted():
  opt = meta_step.make_optimizer(_meta())
  theta = {"a": jnp.ones(3)}
  updates, state = jax.jit(opt.update)({"a": jnp.array([1.0, np.inf, 0.0])}, opt.init(theta), theta)
  np.testing.assert_array_equal(updates["a"], np.zeros(3))
  assert int(state.total_notfinite) == 1
