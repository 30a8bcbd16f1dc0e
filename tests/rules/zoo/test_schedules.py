"""The zoo's rules as published (issue 37, item 2): a learning rate that decays linearly
over the task (Krotov & Hopfield; Sanger, SoftHebb and the others may use it too),
online k-means' count per unit, BCM's running threshold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model, local_rule
from metaunsup.rules import compact, zoo
from metaunsup.rules.zoo import schedule
from metaunsup.rules.zoo import terms as term_records

SCHEDULED = [
  zoo.KrotovHopfield(lr=0.01),
  zoo.Sanger(lr=0.1),
  zoo.SoftHebb(lr=0.2),
  zoo.Competitive(lr=0.1),
  zoo.BCM(lr=0.03),
]


def _network(seed=0, widths=(12, 6)):
  params = base_model.init(jax.random.PRNGKey(seed), 20, widths)
  x = jax.random.normal(jax.random.PRNGKey(seed + 1), (32, 20))
  return params, base_model.apply(params, x, "relu")


def _info(step, total):
  return local_rule.StepInfo(step=jnp.asarray(step), total=jnp.asarray(total))


@pytest.mark.parametrize("rule", SCHEDULED, ids=lambda r: r.kind)
def test_a_linear_schedule_scales_the_step_by_the_time_left(rule):
  params, acts = _network()
  linear = type(rule)(**{**rule.to_dict(), "lr_schedule": "linear"})
  assert linear.reads_total() and not rule.reads_total()
  constant, _ = rule.update_with_state({}, params, acts, None, _info(0, 0))
  for step, total, factor in [(0, 100, 1.0), (25, 100, 0.75), (99, 100, 0.01), (50, 0, 1.0)]:
    new, _ = linear.update_with_state({}, params, acts, None, _info(step, total))
    for w, c, n in zip(params.W, constant.W, new.W):
      # Every rule's increment is linear in lr. Two programs (an lr folded into the
      # increment, a difference scaled after it) round w + increment at w's scale: a few
      # float32 epsilons of |w|, where a wrong factor would be off by 1e-4 of it or more.
      want = w + factor * (c - w)
      assert_close_at_scale(n, want, rel=1e-6, err_msg=f"{step}/{total}")
      assert float(jnp.max(jnp.abs(c - w))) > 1e-3 * float(jnp.max(jnp.abs(w)))


def test_a_constant_schedule_is_the_rule_as_before():
  params, acts = _network()
  for rule in SCHEDULED:
    got, state = rule.update_with_state({}, params, acts, None, _info(7, 100))
    want = rule.update({}, params, acts)
    assert state is None and rule.init_state(params) is None
    for a, b in zip(got.W, want.W):
      np.testing.assert_array_equal(a, b)  # exact: update_with_state calls update


def test_online_k_means_steps_each_unit_by_its_wins_over_its_count():
  rule = zoo.Competitive(lr=0.1, counts=True)
  params, acts = _network(widths=(6,))
  w, x = params.W[0], acts.xs[0]
  counts = rule.init_state(params)
  assert [c.shape for c in counts] == [(6,)]
  new, counts = rule.update_with_state({}, params, acts, counts, _info(0, 0))
  xc = np.asarray(x - x.mean(0))
  won = np.argmin(np.sum(np.asarray(w) ** 2, 0) - 2 * xc @ np.asarray(w), axis=1)
  np.testing.assert_array_equal(counts[0], np.bincount(won, minlength=6))
  for k in set(won.tolist()):
    # A first win moves a unit all the way (1 / n = 1) to the mean of what it won: MacQueen.
    assert_close_at_scale(new.W[0][:, k], xc[won == k].mean(0), rel=1e-5)
  # A second batch: a unit with m new wins and n in all moves m / n of the way.
  acts2 = base_model.apply(new, x[::-1] * 1.5, "relu")
  again, counts2 = rule.update_with_state({}, new, acts2, counts, _info(1, 0))
  assert float(counts2[0].sum()) == 64.0
  for k in np.flatnonzero(np.asarray(counts2[0] - counts[0]) > 0):
    plain = zoo.Competitive(lr=float((counts2[0][k] - counts[0][k]) / counts2[0][k]))
    want = plain.layer_step(new.W[0], acts2.xs[0])[:, k]
    assert_close_at_scale(again.W[0][:, k], want, rel=1e-5)


def test_bcm_s_running_threshold_starts_at_the_batch_and_averages():
  rule = zoo.BCM(lr=0.03, threshold_rate=0.25)
  params, acts = _network()
  state = rule.init_state(params)
  new, state = rule.update_with_state({}, params, acts, state, _info(0, 0))
  first = [np.mean(np.maximum(_rms(x) @ w, 0) ** 2, 0) for w, x in zip(params.W, acts.xs)]
  for got, want in zip(state, first):
    assert_close_at_scale(got, want, rel=1e-5)
  # The first step is BCM with the batch's threshold (the rule without state).
  for a, b in zip(new.W, zoo.BCM(lr=0.03).update({}, params, acts).W):
    assert_close_at_scale(a, b, rel=1e-5)
  acts2 = base_model.apply(new, acts.xs[0][::-1], "relu")
  _, state2 = rule.update_with_state({}, new, acts2, state, _info(1, 0))
  batch = [np.mean(np.maximum(_rms(x) @ w, 0) ** 2, 0) for w, x in zip(new.W, acts2.xs)]
  for got, old, b in zip(state2, state, batch):
    assert_close_at_scale(got, np.asarray(old) + 0.25 * (b - np.asarray(old)), rel=1e-5)


def _rms(x):
  x = np.asarray(x)
  return x / np.sqrt(np.sum(x**2) / x.shape[0] + 1e-8)


def test_bad_schedule_options_are_one_line_errors():
  with pytest.raises(ValueError, match="lr_schedule must be one of"):
    zoo.KrotovHopfield(lr_schedule="cosine")
  with pytest.raises(ValueError, match="counts must be true or false"):
    zoo.Competitive(counts=1)
  with pytest.raises(ValueError, match=r"threshold_rate must be in \[0, 1\]"):
    zoo.BCM(threshold_rate=2.0)


@pytest.mark.parametrize(
  "rule",
  [
    zoo.KrotovHopfield(lr_schedule="linear"),
    zoo.Competitive(counts=True),
    zoo.BCM(threshold_rate=0.1),
  ],
  ids=lambda r: r.kind,
)
def test_a_mix_of_terms_refuses_a_warm_start_from_a_published_schedule(rule):
  with pytest.raises(ValueError, match="cannot hold"):
    compact.CompactRule().theta_from(rule, jax.random.PRNGKey(0))
  assert term_records.PUBLISHED_DEFAULTS["lr_schedule"] == schedule.LR_SCHEDULES[0]
