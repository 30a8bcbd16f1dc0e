"""Truncation lengths, task lengths and resets (metaunsup/training/truncation_schedule.py)."""
import jax
import numpy as np

from helpers import tiny_inner_config
from metaunsup import estimators
from metaunsup.training import truncation_schedule


def test_total_steps_log_uniform_in_range():
  cfg = tiny_inner_config(min_total_steps=10, max_total_steps=1000)
  totals = jax.vmap(lambda k: truncation_schedule.sample_total_steps(k, cfg))(
      jax.random.split(jax.random.PRNGKey(0), 4000))
  totals = np.asarray(totals)
  assert totals.min() >= 10 and totals.max() <= 1000
  # Log-uniform: about half the mass below the geometric mean (100).
  assert 0.4 < np.mean(totals < 100) < 0.6


def test_truncation_length_is_one_of_the_lengths_and_repeats_per_step():
  ks = [truncation_schedule.truncation_length(0, step, (5, 10)) for step in range(200)]
  assert set(ks) == {5, 10}
  assert ks == [truncation_schedule.truncation_length(0, step, (5, 10)) for step in range(200)]
  assert ks != [truncation_schedule.truncation_length(1, step, (5, 10)) for step in range(200)]


def test_tasks_start_staggered_and_only_finished_ones_reset():
  cfg = tiny_inner_config(min_total_steps=20, max_total_steps=50)
  states = truncation_schedule.init_tasks(jax.random.PRNGKey(0), 10, cfg, 8)
  steps, totals = np.asarray(states.step), np.asarray(states.total)
  assert len(set(steps.tolist())) > 1 and np.all((0 <= steps) & (steps < totals))
  # Task 0 reached its length, task 1 blew up (NaN meta-loss); the rest go on.
  states = states.replace(step=states.step.at[0].set(states.total[0]))
  losses = jax.numpy.zeros(8).at[1].set(jax.numpy.nan)
  mg = estimators.MetaGradient(
      loss=0.0, grads=None, states=states, estimator_state=(), task_losses=losses,
      task_accuracies=jax.numpy.zeros(8))
  new, done = truncation_schedule.reset_finished(jax.random.PRNGKey(1), cfg, mg, 10)
  assert np.asarray(done).tolist() == [True, True] + [False] * 6
  assert np.asarray(new.step).tolist()[:2] == [0, 0]
  np.testing.assert_array_equal(np.asarray(new.step)[2:], steps[2:])
  np.testing.assert_array_equal(new.params.W[0][2:], states.params.W[0][2:])
  assert not np.array_equal(new.params.W[0][0], states.params.W[0][0])
