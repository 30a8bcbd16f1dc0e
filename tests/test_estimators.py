"""The meta-gradient estimators (metaunsup/estimators/): on a toy dynamical system whose
full-unroll gradient is exact, through the same `estimate` code the meta-step runs; then
on the real inner problem inside `training.meta_step` and `train.train_and_evaluate`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup import api, estimators, train
from metaunsup.training import meta_step, setup
from metaunsup.training.state import warm_start_theta
from helpers import MECHANISM_RULE, tiny_config

K, TRUNCATIONS, DRAWS = 2, 3, 20000
THETA = {"w": jnp.array([0.5, 0.3])}


def toy_step(theta, x):
  """x <- (0.5 + w1) x + w0: a scalar linear system, the carried state of a long unroll."""
  return (0.5 + theta["w"][1]) * x + theta["w"][0]


def toy_truncation(advance_steps: int = 0) -> estimators.Truncation:
  """K scored steps (loss (x - target)^2 at the end), then forward-only steps."""

  def loss(theta, state, target):
    x = state["x"]
    for _ in range(K):
      x = toy_step(theta, x)
    return (x - target) ** 2, ({"x": x}, jnp.zeros(()))

  def advance(theta, state, target):
    del target
    x = state["x"]
    for _ in range(advance_steps):
      x = toy_step(theta, x)
    return {"x": x}

  return estimators.Truncation(loss=loss, advance=advance if advance_steps else None)


def full_unroll_gradient(advance_steps: int):
  """d/dtheta of the sum of every truncation's loss, theta acting on every step."""

  def total(theta):
    x, out = jnp.ones(()), 0.0
    for _ in range(TRUNCATIONS):
      for _ in range(K):
        x = toy_step(theta, x)
      out = out + (x - 1.0) ** 2
      for _ in range(advance_steps):
        x = toy_step(theta, x)
    return out

  return np.asarray(jax.grad(total)(THETA)["w"])


def summed_estimates(estimator, key, advance_steps: int):
  """One task, TRUNCATIONS truncations in a row (states and estimator state carried): the
  sum of the estimates, an estimate of the full-unroll gradient."""
  truncation = toy_truncation(advance_steps)
  states, target = {"x": jnp.ones((1,))}, jnp.ones((1,))
  est_state = estimator.init(THETA, states)
  total = jnp.zeros(2)
  for k in jax.random.split(key, TRUNCATIONS):
    mg = estimator.estimate(THETA, est_state, states, target, k, truncation)
    states, est_state = mg.states, mg.estimator_state
    total = total + mg.grads["w"]
  return total


def draws(estimator, advance_steps: int, n: int = DRAWS):
  keys = jax.random.split(jax.random.PRNGKey(0), n)
  out = jax.jit(jax.vmap(lambda k: summed_estimates(estimator, k, advance_steps)))(keys)
  out = np.asarray(out, np.float64)
  return out.mean(0), out.std(0) / np.sqrt(n)


@pytest.mark.parametrize("advance_steps", [0, 2])
def test_pes_is_unbiased_for_the_full_unroll_and_truncated_bptt_is_not(advance_steps):
  exact = full_unroll_gradient(advance_steps)
  mean, sem = draws(estimators.PES(sigma=0.01), advance_steps)
  assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
  assert np.all(sem < 0.1 * np.abs(exact)), sem  # the test has the power to see a bias
  bptt = np.asarray(
    summed_estimates(estimators.TruncatedBPTT(), jax.random.PRNGKey(0), advance_steps)
  )
  # Truncated BPTT ignores what theta did to the carried state: off by far more than PES's
  # standard error (and by over 20 %), so the first assertion is not vacuous.
  assert np.all(np.abs(bptt - exact) > 10 * sem), (bptt, exact, sem)
  assert np.all(np.abs(bptt - exact) > 0.2 * np.abs(exact)), (bptt, exact)


def test_antithetic_es_matches_central_finite_differences():
  """Within one truncation, from a fixed state: E[ES] = grad of the Gaussian-smoothed loss,
  which central differences of step sigma approximate to O(sigma^2)."""
  sigma, truncation = 0.01, toy_truncation()
  state, target = {"x": jnp.ones((1,))}, jnp.ones((1,))
  estimator = estimators.AntitheticES(sigma=sigma, pairs=4)

  @jax.jit
  @jax.vmap
  def estimate(key):
    return estimator.estimate(THETA, (), state, target, key, truncation).grads["w"]

  out = np.asarray(estimate(jax.random.split(jax.random.PRNGKey(1), DRAWS)), np.float64)
  mean, sem = out.mean(0), out.std(0) / np.sqrt(DRAWS)

  def loss(w):
    return float(truncation.loss({"w": jnp.asarray(w, jnp.float32)}, {"x": 1.0}, 1.0)[0])

  w, h = np.asarray(THETA["w"], np.float64), sigma
  central = np.array([(loss(w + h * e) - loss(w - h * e)) / (2 * h) for e in np.eye(2)])
  assert np.all(np.abs(mean - central) < 4 * sem + 1e-3 * np.abs(central)), (mean, central, sem)
  assert np.all(sem < 0.05 * np.abs(central)), sem


def test_clipping_bounds_each_pair_contribution():
  clip, sigma = 1e-4, 0.01
  state, target = {"x": jnp.ones((1,))}, jnp.ones((1,))
  eps = estimators.base.perturbations(jax.random.PRNGKey(3), THETA, (1, 1))
  grads = (
    estimators.AntitheticES(sigma=sigma, clip=clip)
    .estimate(THETA, (), state, target, jax.random.PRNGKey(3), toy_truncation())
    .grads["w"]
  )
  # Each entry is one float32 product (no sum), so element-wise: a few eps of itself.
  np.testing.assert_allclose(np.abs(grads), clip / (2 * sigma) * np.abs(eps["w"][0, 0]), rtol=1e-5)


def test_pes_reset_restarts_particles_and_accumulator():
  estimator = estimators.PES(pairs=2)
  states = {"x": jnp.array([1.0, 2.0])}
  est = estimator.estimate(
    THETA,
    estimator.init(THETA, states),
    states,
    jnp.ones(2),
    jax.random.PRNGKey(0),
    toy_truncation(),
  ).estimator_state
  fresh = {"x": jnp.array([5.0, 6.0])}
  out = estimators.reset(estimator, THETA, est, fresh, jnp.array([True, False]))
  assert out.particles["x"].shape == (2, 2, 2)
  np.testing.assert_array_equal(out.particles["x"][0], 5.0)
  np.testing.assert_array_equal(out.accumulator["w"][0], 0.0)
  np.testing.assert_array_equal(out.particles["x"][1], est.particles["x"][1])
  np.testing.assert_array_equal(out.accumulator["w"][1], est.accumulator["w"][1])
  assert np.all(np.asarray(est.accumulator["w"][1]) != 0)


# Compiling the real meta-step takes most of this test's ~30 s per estimator (one bucket):
# the one-compile guarantee is what keeps a long run from recompiling every step.
# truncated_bptt: test_meta_training.py (PES also scores the trajectory objective here).
@pytest.mark.parametrize("name,objective", [("pes", "mean_over_truncation"), ("es", "final")])
@pytest.mark.slow
def test_meta_step_compiles_once_per_truncation_length(name, objective):
  # Compile counts are the estimator's, whatever the rule: the mechanism rule (fast to compile).
  c = tiny_config(MECHANISM_RULE, estimator=name, objective=objective, worsening_penalty=0.1)
  c.family.num_buckets = 1
  c.inner.advance_steps = 2
  family, static, state = setup.setup(c)
  assert (static.estimator, static.advance_steps) == (estimators.from_config(c.meta), 2)
  # From an empty cache: an earlier test of this process may have compiled the same step.
  meta_step.meta_step.clear_cache()
  before = meta_step.meta_step._cache_size()
  for i in range(3):
    task_data, _ = family.step_data(i, state.datasets)
    state, done, m = meta_step.meta_step(state, task_data, static=static, k=2)
    state = state.replace(datasets=family.reassign(i, state.datasets, done))
    assert np.isfinite(float(m["meta_loss"])) and float(m["grad_norm"]) > 0
  assert meta_step.meta_step._cache_size() - before == 1
  # Every task moved k + advance_steps = 4 inner steps per meta-step (or was reset).
  assert all(int(s) % 4 == 0 or int(s) < 12 for t in state.tasks for s in t.step)


def _pes_config(steps):
  c = tiny_config(MECHANISM_RULE, steps=steps, estimator="pes", es_pairs=2)  # as above
  c.family.num_buckets = 1
  c.inner.advance_steps = 1
  # Tasks long enough not to be reset in 4 meta-steps: their accumulators stay non-zero.
  c.inner.min_total_steps, c.inner.max_total_steps = 40, 60
  return c


@pytest.mark.slow
def test_interrupted_pes_run_resumes_to_the_same_theta(tmp_path):
  full = train.train_and_evaluate(_pes_config(4), tmp_path / "full")[0]
  train.train_and_evaluate(_pes_config(2), tmp_path / "split")
  resumed = train.train_and_evaluate(_pes_config(4), tmp_path / "split")[0]
  # Exact: the same jitted meta-step on the same inputs (theta, particles and accumulators
  # restored bit for bit).
  for a, b in zip(jax.tree_util.tree_leaves(full.theta), jax.tree_util.tree_leaves(resumed.theta)):
    np.testing.assert_array_equal(a, b)
  # ...because the particles and accumulators were restored, not restarted.
  like = {"estimator": _restored_like()}
  step, restored = train.checkpointing.restore_latest(
    train.checkpointing.manager(tmp_path / "split"), like, partial=True
  )
  assert step == 4
  assert any(
    np.any(np.asarray(a) != 0)
    for a in jax.tree_util.tree_leaves([b.accumulator for b in restored["estimator"]])
  )


def _restored_like():
  return setup.setup(_pes_config(4))[2].estimator


def test_warm_start_loads_theta_and_refuses_other_shapes(tmp_path):
  c = tiny_config()
  cfg = setup.rule_of(c)
  theta = cfg.init_theta(jax.random.PRNGKey(7))
  api.Rule(theta=theta, config=cfg).save(tmp_path / "rule.msgpack")
  loaded = warm_start_theta(tmp_path / "rule.msgpack", cfg)
  for name in theta:
    np.testing.assert_array_equal(loaded[name], theta[name])
  other = tiny_config(init_rule=str(tmp_path / "rule.msgpack"))
  other.rule.channels = 5
  with pytest.raises(ValueError, match="init_rule.*channels") as e:
    train.train_and_evaluate(other, tmp_path / "run")
  assert "\n" not in str(e.value)
  with pytest.raises(FileNotFoundError):
    warm_start_theta(tmp_path / "missing.msgpack", cfg)


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("estimator", "reinforce", "meta.estimator"),
    ("es_sigma", 0.0, "meta.es_sigma"),
    ("es_pairs", 0, "meta.es_pairs"),
    ("es_clip", -1.0, "meta.es_clip"),
    ("objective", "best", "meta.objective"),
    ("objective_points", 3, "meta.objective_points"),  # > shortest truncation (2)
    ("worsening_penalty", -0.5, "meta.worsening_penalty"),
  ],
)
def test_bad_estimator_fields_fail_fast_with_one_line(tmp_path, field, value, match):
  c = tiny_config(objective="mean_over_truncation")
  c.meta[field] = value
  with pytest.raises(ValueError, match=match) as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value)
