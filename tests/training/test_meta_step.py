"""The jitted meta-step and the meta-optimiser (metaunsup/training/meta_step.py), on small
configs and real data (scikit-learn digits)."""

import dataclasses

import jax
import numpy as np
import optax
import pytest

from helpers import MECHANISM_RULE, per_task, tiny_config
from metaunsup import data, estimators, inner, preprocess, train
from metaunsup.rules import learned
from metaunsup.training import meta_step, setup


@pytest.mark.slow
def test_meta_loss_decreases_on_a_small_fixed_task():
  """Real data (digits), one fixed set of tasks and keys: Adam on theta must lower the
  meta-loss of exactly that truncation."""
  c = tiny_config(learning_rate=1e-2)
  ds = data.load("digits", 8)
  cfg = dataclasses.replace(
    train.inner_config(c), widths=(16, 8), batch_size=32, augment=preprocess.AugmentConfig()
  )
  task_data = per_task(inner.make_task_data(ds.train_x, ds.train_y, ds.num_classes), 4)
  opt = meta_step.make_optimizer(c.meta)
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg.rule)
  states = inner.init_tasks(jax.random.PRNGKey(1), ds.input_dim, cfg, 4)
  # Advance the tasks first so the rule has changed the networks it is judged on.
  loss_fn = jax.jit(lambda th: estimators.truncated_bptt_gradient(th, cfg, states, task_data, 5))
  # Jitted, as train.py's meta-step runs it: op by op, the optimiser's conditionals compiled
  # again at every call (about 1.7 s each, 40 s of the test on 2 cores).
  opt_state, update = opt.init(theta), jax.jit(opt.update)
  first = float(loss_fn(theta).loss)
  for _ in range(25):
    mg = loss_fn(theta)
    updates, opt_state = update(mg.grads, opt_state, theta)
    theta = optax.apply_updates(theta, updates)
  last = float(loss_fn(theta).loss)
  assert last < first - 0.05, (first, last)


def test_non_finite_meta_gradients_are_skipped_and_counted():
  c = tiny_config()
  opt = meta_step.make_optimizer(c.meta)
  theta = {"a": jax.numpy.ones(3)}
  state = opt.init(theta)
  updates, state = opt.update({"a": jax.numpy.array([1.0, np.nan, 0.0])}, state, theta)
  assert np.all(np.asarray(updates["a"]) == 0) and int(state.total_notfinite) == 1
  updates, state = opt.update({"a": jax.numpy.ones(3)}, state, theta)
  assert np.all(np.asarray(updates["a"]) != 0) and int(state.total_notfinite) == 1


@pytest.mark.slow
def test_meta_step_compiles_once_per_truncation_length():
  """Two buckets of different shapes, fresh data every step: still one compile."""
  # One compile whatever the rule: the mechanism rule, fast to compile.
  family, static, state = setup.setup(tiny_config(MECHANISM_RULE))
  # From an empty cache: an earlier test of this process may have compiled the same step.
  meta_step.meta_step.clear_cache()
  before = meta_step.meta_step._cache_size()
  for i in range(3):
    task_data, _ = family.step_data(i, state.datasets)
    state, done, _ = meta_step.meta_step(state, task_data, static=static, k=2)
    state = state.replace(datasets=family.reassign(i, state.datasets, done))
  assert meta_step.meta_step._cache_size() - before == 1
  assert int(state.step) == 3


def test_setup_builds_the_state_train_py_starts_from():
  """One setup for every caller: the static pieces from the config, theta from the rule's
  init_theta with the seed's key, and a state that meta_step carries forward whole."""
  c = tiny_config()
  family, static, state = setup.setup(c)
  assert static.cfgs == tuple(b.cfg for b in family.buckets)
  assert (
    static.cfgs[0].rule
    == setup.rule_of(c)
    == learned.LearnedRule(channels=4, hidden=8, readout_rank=2)
  )  # tiny_config's, kind "learned"
  hash(static)  # a static argument of the jitted meta-step
  _, k_theta, _ = jax.random.split(jax.random.PRNGKey(c.seed), 3)
  expected = static.cfgs[0].rule.init_theta(k_theta)
  for name in expected:
    np.testing.assert_array_equal(state.theta[name], expected[name])
  assert int(state.step) == 0 and len(state.tasks) == len(family.buckets)
  assert state.estimator == tuple(() for _ in family.buckets)  # truncated BPTT: stateless


def test_optimizer_never_applies_a_non_finite_update():
  """51 all-NaN meta-gradients in a row (one more than max_consecutive_skips=50): theta is
  unchanged (on main, optax.apply_if_finite applied the 51st and theta became NaN)."""
  c = tiny_config(max_consecutive_skips=50)
  opt = meta_step.make_optimizer(c.meta)
  theta = {"a": jax.numpy.ones(3)}
  state, update = opt.init(theta), jax.jit(opt.update)
  for _ in range(51):
    updates, state = update({"a": jax.numpy.full(3, np.nan)}, state, theta)
    theta = jax.tree_util.tree_map(lambda p, u: p + u, theta, updates)
  np.testing.assert_array_equal(theta["a"], np.ones(3))
  assert int(state.notfinite_count) == 51
