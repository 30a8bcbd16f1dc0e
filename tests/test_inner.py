import dataclasses

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import (
  assert_close_at_scale,
  mechanism_rule,
  per_task,
  synthetic_task_data,
  tiny_inner_config,
)
from metaunsup import estimators, inner
from metaunsup.rules import learned


def _tasks(cfg, n, dim, seed=1):
  return jax.vmap(lambda k: inner.init_task(k, dim, cfg))(
    jax.random.split(jax.random.PRNGKey(seed), n)
  )


def test_vmapped_unroll_equals_per_task_loop():
  cfg = tiny_inner_config()
  data = synthetic_task_data()
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg.rule)
  states = _tasks(cfg, 3, 10)
  run = jax.jit(lambda st: inner.truncated_loss(theta, cfg, st, data, 3))
  losses, (new_states, _) = jax.jit(jax.vmap(run))(states)
  # vmapped against one task at a time: other kernels, so float32 rounding carried through
  # 3 unrolled rule steps and the readout, at each quantity's scale (up to 1.9e-6 seen);
  # a task mixed with another or a skipped step would be O(1).
  for i in range(3):
    one = jax.tree_util.tree_map(lambda a: a[i], states)
    loss_i, (state_i, _) = run(one)
    assert_close_at_scale(losses[i], loss_i, rel=1e-4, err_msg=f"loss of task {i}")
    assert_close_at_scale(
      jax.tree_util.tree_map(lambda a: a[i], new_states),
      state_i,
      rel=1e-4,
      err_msg=f"state of task {i}",
    )


def test_unroll_advances_step_and_changes_weights():
  cfg = tiny_inner_config(rule=mechanism_rule())  # the scan's bookkeeping, whatever the rule
  data = synthetic_task_data()
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  state = inner.init_task(jax.random.PRNGKey(1), 10, cfg)
  new = inner.unroll(theta, cfg, state, data, 4)
  assert int(new.step) == 4
  assert not np.allclose(new.params.W[0], state.params.W[0])
  assert np.array_equal(new.params.perm, state.params.perm)


def test_support_and_query_are_balanced_and_disjoint():
  data = synthetic_task_data(num_classes=3, n=60)
  s, q = inner.sample_support_query(jax.random.PRNGKey(0), data, 4, 5)
  assert np.bincount(np.asarray(data.y[s]), minlength=3).tolist() == [4, 4, 4]
  assert np.bincount(np.asarray(data.y[q]), minlength=3).tolist() == [5, 5, 5]
  assert not set(np.asarray(s).tolist()) & set(np.asarray(q).tolist())


@pytest.mark.slow
def test_meta_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    cfg = tiny_inner_config(widths=(6, 4), batch_size=6)
    data = synthetic_task_data(dim=5, n=30)
    data = jax.tree_util.tree_map(
      lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a, data
    )
    theta = jax.tree_util.tree_map(
      lambda a: a.astype(jnp.float64), learned.init_theta(jax.random.PRNGKey(0), cfg.rule)
    )
    states = jax.tree_util.tree_map(
      lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a, _tasks(cfg, 2, 5)
    )

    # One compiled function gives both the gradient and the perturbed losses.
    estimate = jax.jit(
      lambda th: estimators.truncated_bptt_gradient(th, cfg, states, per_task(data, 2), 2)
    )

    def loss(th):
      return estimate(th).loss

    grads = estimate(theta).grads
    flat, unravel = ravel_pytree(theta)
    g = ravel_pytree(grads)[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
      direction = rng.normal(size=flat.shape)
      direction /= np.linalg.norm(direction)
      eps = 1e-5
      fd = (loss(unravel(flat + eps * direction)) - loss(unravel(flat - eps * direction))) / (
        2 * eps
      )
      # float64: central differences of step 1e-5 are off by O(1e-10) (truncation eps^2,
      # rounding 1e-16 / eps); compared at the gradient's scale, since a random direction
      # may meet it at a small angle. A missing or wrong term is O(|g| / sqrt(n)).
      assert abs(float(g @ direction) - float(fd)) <= 1e-5 * float(np.linalg.norm(g)), (
        float(g @ direction),
        float(fd),
      )


@pytest.fixture(scope="module")
def remat_gradient():
  """The meta-gradient of truncated BPTT on 2 tasks, plain or rematerialised, compiled once
  per (remat, k) and shared by the two remat tests; the k = 7 pair the equality test runs is
  also the short end of the memory test. Remat wraps the scan whatever the rule: the
  mechanism rule, whose programs compile several times faster than the learned rule's."""
  cfg = tiny_inner_config(widths=(6, 5), rule=mechanism_rule())  # the smallest network
  data = synthetic_task_data()
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  states = _tasks(cfg, 2, 10)
  compiled = {}

  def program(remat: bool, k: int):
    if (remat, k) not in compiled:
      c = dataclasses.replace(cfg, remat=remat)
      compiled[remat, k] = (
        jax.jit(lambda th: estimators.truncated_bptt_gradient(th, c, states, per_task(data, 2), k))
        .lower(theta)
        .compile()
      )
    return compiled[remat, k]

  return theta, program


@pytest.mark.slow
def test_remat_meta_gradient_equals_plain_one(remat_gradient):
  # k = 7: chunks of 2 and a remainder of 1, so both scans of the decomposition run.
  theta, program = remat_gradient
  plain, remat = program(False, 7)(theta), program(True, 7)(theta)
  # The loss is a scalar at its own scale; the forward passes differ only by fusion.
  np.testing.assert_allclose(plain.loss, remat.loss, rtol=1e-5)
  # float32 rounding differs between the two programs and 7 unrolled steps amplify it (up to
  # 4.5e-4 of a leaf's largest entry seen on AVX-512, 2.7e-6 with XLA held to SSE4.2):
  # relative to each leaf, far below what a missing or doubled term of the gradient gives.
  assert_close_at_scale(
    (remat.grads, remat.states), (plain.grads, plain.states), rel=5e-3, err_msg="remat vs plain"
  )


@pytest.mark.slow
def test_remat_memory_grows_sublinearly_with_truncation(remat_gradient):
  # From k = 7 (the equality test's programs, already compiled) to k = 100: without remat
  # every step's intermediates are kept (about 13x the temp memory, seen), with it about
  # 2 sqrt(k) carries (about 1.1x); the bounds are those of the test at k = 4.
  _, program = remat_gradient

  def temp_bytes(remat, k):
    return program(remat, k).memory_analysis().temp_size_in_bytes

  plain = temp_bytes(False, 100) / temp_bytes(False, 7)
  remat = temp_bytes(True, 100) / temp_bytes(True, 7)
  assert plain > 5 and remat < 3, (plain, remat)


def test_vmapped_unroll_compiles_once_when_fed_its_own_output():
  cfg = tiny_inner_config(rule=mechanism_rule())  # a compile count, whatever the rule
  data = synthetic_task_data()
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  run = jax.jit(jax.vmap(lambda st: inner.unroll(theta, cfg, st, data, 2)))
  states = _tasks(cfg, 2, 10)
  for _ in range(3):
    states = run(states)
  assert run._cache_size() == 1 and int(states.step[0]) == 6


# ---- the task lifecycle -------------------------------------------------------------------


def test_total_steps_log_uniform_in_range():
  cfg = tiny_inner_config(min_total_steps=10, max_total_steps=1000)
  totals = jax.vmap(lambda k: inner.sample_total_steps(k, cfg))(
    jax.random.split(jax.random.PRNGKey(0), 4000)
  )
  totals = np.asarray(totals)
  assert totals.min() >= 10 and totals.max() <= 1000
  # Log-uniform: about half the mass below the geometric mean (100).
  assert 0.4 < np.mean(totals < 100) < 0.6


def test_tasks_start_staggered_and_only_finished_ones_reset():
  # The task lifecycle, whatever the rule: the mechanism rule.
  cfg = tiny_inner_config(min_total_steps=20, max_total_steps=50, rule=mechanism_rule())
  states = inner.init_tasks(jax.random.PRNGKey(0), 10, cfg, 8)
  steps, totals = np.asarray(states.step), np.asarray(states.total)
  # Staggered by their lengths, each at step 0: a fresh network has taken no step (a rule
  # that knows the time reads it), and some tasks were cut below min_total_steps.
  assert np.all(steps == 0) and len(set(totals.tolist())) > 1 and np.all(totals >= 1)
  assert totals.min() < 20
  # Task 0 reached its length, task 1 blew up (NaN meta-loss); the rest go on.
  states = states.replace(step=states.step.at[0].set(states.total[0]))
  steps = np.asarray(states.step)
  losses = jnp.zeros(8).at[1].set(jnp.nan)
  new, done = inner.reset_finished(jax.random.PRNGKey(1), cfg, states, losses, 10)
  assert np.asarray(done).tolist() == [True, True] + [False] * 6
  assert np.asarray(new.step).tolist()[:2] == [0, 0]
  np.testing.assert_array_equal(np.asarray(new.step)[2:], steps[2:])
  np.testing.assert_array_equal(new.params.W[0][2:], states.params.W[0][2:])
  assert not np.array_equal(new.params.W[0][0], states.params.W[0][0])
