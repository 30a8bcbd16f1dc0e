"""ES-Single (metaunsup/estimators/es_single.py) on test_estimators.py's toy dynamical system
(a quadratic loss of a scalar linear recurrence), through the same `estimate` code the
meta-step runs; then a real meta-training run interrupted and resumed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup import estimators, train
from metaunsup.training import setup
from helpers import MECHANISM_RULE, tiny_config
from test_estimators import K, THETA, draws, full_unroll_gradient, toy_step, toy_truncation


def test_es_single_is_registered_and_built_from_the_config():
  c = tiny_config(estimator="es_single", es_sigma=0.05, es_pairs=3, es_clip=2.0)
  assert "es_single" in estimators.names()
  assert estimators.from_config(c.meta) == estimators.ESSingle(sigma=0.05, pairs=3, clip=2.0)


@pytest.mark.parametrize("advance_steps", [0, 2])
def test_es_single_is_unbiased_for_the_full_unroll(advance_steps):
  """The sum of the estimates over an inner problem's truncations: unbiased for the gradient
  of the smoothed sum of truncation losses, which on this near-quadratic toy differs from
  the full-unroll gradient by O(sigma^2) (sigma = 0.01: far below the standard error)."""
  exact = full_unroll_gradient(advance_steps)
  mean, sem = draws(estimators.ESSingle(sigma=0.01), advance_steps)
  assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
  assert np.all(sem < 0.1 * np.abs(exact)), sem  # the test has the power to see a bias


# A toy at its steady state: x <- 0.2 x + 0.5 (contracting fast), started at its fixed point
# x* = 0.625, target 1. The exact gradient of truncation t's loss (theta acting on every
# step since the start) hardly changes with t: |grad L_16|^2 / |grad L_1|^2 = 1.085.
STEADY_THETA = {"w": jnp.array([0.5, -0.3])}
STEADY_X, VARIANCE_TRUNCATIONS, VARIANCE_DRAWS = 0.625, 16, 20000


def per_truncation_estimates(estimator, key):
  """One task, VARIANCE_TRUNCATIONS truncations of the steady toy in a row: each
  truncation's estimate, [VARIANCE_TRUNCATIONS, 2]."""
  truncation = toy_truncation()
  states, target = {"x": jnp.full((1,), STEADY_X)}, jnp.ones((1,))
  est_state = estimator.init(STEADY_THETA, states)
  out = []
  for k in jax.random.split(key, VARIANCE_TRUNCATIONS):
    mg = estimator.estimate(STEADY_THETA, est_state, states, target, k, truncation)
    states, est_state = mg.states, mg.estimator_state
    out.append(mg.grads["w"])
  return jnp.stack(out)


def test_es_single_variance_does_not_grow_with_the_truncation_index_and_pes_does():
  """The estimate at truncation t of both estimators is unbiased for the gradient of L_t;
  PES weighs L+ - L- by the sum of the t directions drawn so far (variance growing like t),
  ES-Single by its one direction, so its variance follows |grad L_t|^2 alone."""
  keys = jax.random.split(jax.random.PRNGKey(0), VARIANCE_DRAWS)
  variances = {}
  for name, estimator in [("es_single", estimators.ESSingle(0.01)), ("pes", estimators.PES(0.01))]:
    out = jax.jit(jax.vmap(lambda k: per_truncation_estimates(estimator, k)))(keys)
    variances[name] = np.asarray(out, np.float64).var(0)[[0, 3, 15]]  # t = 1, 4, 16; [3, 2]
  print({name: v.tolist() for name, v in variances.items()})  # pytest -s shows the numbers
  es_single, pes = variances["es_single"], variances["pes"]
  # The first truncations agree (one direction each, so the same estimator)...
  np.testing.assert_allclose(es_single[0], pes[0], rtol=1e-4)
  # ...then ES-Single's variance stays put (1.085x: the gradient's own growth; 20000 draws
  # estimate a variance to a few percent) while PES's grows (measured about 10x to 13x).
  assert np.all(es_single[2] / es_single[0] < 1.5), es_single
  assert np.all(pes[2] / pes[0] > 4), pes
  assert np.all(pes[2] / pes[1] > 2), pes
  assert np.all(es_single[2] < pes[2] / 4), (es_single, pes)


@pytest.mark.parametrize("num_truncations", [1, 4, 16])
def test_es_single_summed_over_truncations_is_full_unroll_es(num_truncations):
  """However a 16-step inner problem (a loss after every step) is cut into truncations, the
  sum of ES-Single's estimates is full-unroll antithetic ES of the summed loss with the
  directions it kept: its variance does not depend on the number of truncations."""
  horizon, sigma, pairs = 16, 0.01, 3
  steps = horizon // num_truncations

  def loss(theta, state, target):
    x, total = state["x"], 0.0
    for _ in range(steps):
      x = toy_step(theta, x)
      total = total + (x - target) ** 2
    return total, ({"x": x}, jnp.zeros(()))

  def full(w):
    x, total = 1.0, 0.0
    for _ in range(horizon):
      x = toy_step({"w": w}, x)
      total = total + (x - 1.0) ** 2
    return total

  estimator = estimators.ESSingle(sigma=sigma, pairs=pairs)
  states, target = {"x": jnp.ones((1,))}, jnp.ones((1,))
  est_state = estimator.init(THETA, states)
  total = jnp.zeros(2)
  for k in jax.random.split(jax.random.PRNGKey(4), num_truncations):
    mg = estimator.estimate(THETA, est_state, states, target, k, estimators.Truncation(loss=loss))
    states, est_state = mg.states, mg.estimator_state
    total = total + mg.grads["w"]
  eps = np.asarray(est_state.eps["w"][0], np.float64)  # [P, 2], kept all along
  w = np.asarray(THETA["w"], np.float64)
  full_es = np.mean(
    [(full(w + sigma * e) - full(w - sigma * e)) / (2 * sigma) * e for e in eps], axis=0
  )
  # float32 losses of about 20 differenced at sigma = 0.01: agreement to about 2e-5 relative.
  np.testing.assert_allclose(total, full_es, rtol=0, atol=2e-4 * np.abs(full_es).max())


def test_es_single_reset_draws_new_directions_and_keeps_the_others():
  estimator = estimators.ESSingle(pairs=2)
  states, target, truncation = {"x": jnp.array([1.0, 2.0])}, jnp.ones(2), toy_truncation()
  first = estimator.init(THETA, states)
  assert first.particles["x"].shape == (2, 2, 2) and first.eps["w"].shape == (2, 2, 2)
  np.testing.assert_array_equal(first.fresh, [True, True])
  est = estimator.estimate(
    THETA, first, states, target, jax.random.PRNGKey(0), truncation
  ).estimator_state
  np.testing.assert_array_equal(est.fresh, [False, False])
  assert np.all(np.asarray(est.eps["w"]) != 0)
  # Without a reset, the next truncation keeps every direction, whatever its key.
  kept = estimator.estimate(THETA, est, states, target, jax.random.PRNGKey(1), truncation)
  np.testing.assert_array_equal(kept.estimator_state.eps["w"], est.eps["w"])
  # Task 0 is reset: fresh particles, marked fresh; task 1 untouched.
  fresh = {"x": jnp.array([5.0, 6.0])}
  out = estimators.reset(estimator, THETA, est, fresh, jnp.array([True, False]))
  np.testing.assert_array_equal(out.particles["x"][0], 5.0)
  np.testing.assert_array_equal(out.fresh, [True, False])
  np.testing.assert_array_equal(out.particles["x"][1], est.particles["x"][1])
  np.testing.assert_array_equal(out.eps["w"][1], est.eps["w"][1])
  # Its next estimate draws task 0 new directions (from that estimate's key) and unrolls
  # its particles from the fresh state; task 1 goes on with its own.
  after = estimator.estimate(THETA, out, fresh, target, jax.random.PRNGKey(2), truncation)
  new = after.estimator_state
  np.testing.assert_array_equal(new.fresh, [False, False])
  drawn = estimators.base.perturbations(jax.random.PRNGKey(2), THETA, (2, 2))
  np.testing.assert_array_equal(new.eps["w"][0], drawn["w"][0])
  assert np.all(np.asarray(new.eps["w"][0]) != np.asarray(est.eps["w"][0]))
  np.testing.assert_array_equal(new.eps["w"][1], est.eps["w"][1])
  x0 = 5.0
  for _ in range(K):
    x0 = toy_step({"w": THETA["w"] + estimator.sigma * drawn["w"][0, 0]}, x0)
  np.testing.assert_allclose(after.states["x"][0], x0, rtol=1e-6)


def _es_single_config(steps):
  # Resume restores the estimator's state whatever the rule: the mechanism rule (fast to compile).
  c = tiny_config(MECHANISM_RULE, steps=steps, estimator="es_single", es_pairs=2)
  c.family.num_buckets = 1
  c.inner.advance_steps = 1
  # Tasks long enough not to be reset in 4 meta-steps: their directions stay drawn.
  c.inner.min_total_steps, c.inner.max_total_steps = 40, 60
  return c


@pytest.mark.slow
def test_interrupted_es_single_run_resumes_to_the_same_theta(tmp_path):
  full = train.train_and_evaluate(_es_single_config(4), tmp_path / "full")[0]
  train.train_and_evaluate(_es_single_config(2), tmp_path / "split")
  resumed = train.train_and_evaluate(_es_single_config(4), tmp_path / "split")[0]
  # Exact: the same jitted meta-step on the same inputs (theta, particles, directions and
  # fresh flags restored bit for bit).
  for a, b in zip(jax.tree_util.tree_leaves(full.theta), jax.tree_util.tree_leaves(resumed.theta)):
    np.testing.assert_array_equal(a, b)
  # ...because the directions were restored, not drawn again (nor zero and fresh).
  like = {"estimator": setup.setup(_es_single_config(4))[2].estimator}
  step, restored = train.checkpointing.restore_latest(
    train.checkpointing.manager(tmp_path / "split"), like, partial=True
  )
  assert step == 4
  for bucket in restored["estimator"]:
    assert np.asarray(bucket.fresh).dtype == np.bool_
    assert not np.any(np.asarray(bucket.fresh))
    assert all(np.all(np.asarray(e) != 0) for e in jax.tree_util.tree_leaves(bucket.eps))
