"""Competitive learning as online k-means (Rumelhart & Zipser 1985, "Feature discovery by
competitive learning", Cognitive Science 9; MacQueen 1967's online k-means): each unit's
weight vector is a centroid, the unit nearest an input wins it, and the winner moves toward
the input (the instar rule dw_win = lr (x - w_win)). The soft variant (Nowlan 1990's
"maximum likelihood competitive learning"; the soft k-means of deterministic annealing,
Rose et al. 1990) shares each input among the units by a softmax of minus their squared
distances at a temperature, and moves each unit to its weighted mean (EM's M-step, damped).

Multi-layer design: every layer learns at once, each clustering its own input acts.xs[l]
(the previous layer's post-activation output, or the permuted input for layer 0) with its
columns W[:, k] as centroids in that input's space. The forward pass then reads x . w_k,
batch-normalised: the similarity of x to centroid k, which differs from minus half the
squared distance only by the per-unit offset `|w_k|^2 / 2` that batch norm removes, so a
unit's feature is high where its centroid is near. The rule reads the layer's input, not
the batch-normalised currents: k-means needs distances in input space.

Dead units: `base_model.init`'s columns are random directions of norm sqrt(fan_in), far
from data that fills a few directions; the first units to win move into the data and then
win everything, and the rest never win (on 14x14 MNIST, plain online k-means leaves 10 to
16 of 32 units dead). The hard variant here is the zero-temperature limit of the soft one,
in which a unit that wins nothing moves toward the input it came closest to winning
(`unit_weights`); no unit stays dead, and a 32-unit layer reaches scikit-learn's k-means
inertia within 1.5% on 14x14 and 28x28 MNIST, 14x14 Fashion-MNIST and digits (3000
examples or all of digits, 6000 steps, the last 2000 at lr 0.01; measured over two init
seeds, and tested on digits in tests/rules/zoo/test_competitive.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp

from metaunsup import base_model, local_rule
from metaunsup.rules.zoo import record, schedule

EPS = 1e-8


@local_rule.register("competitive")
@dataclasses.dataclass(frozen=True)
class Competitive(schedule.ScheduledRule):
  """Online k-means (hard winner-take-all instar) or soft competitive learning on every
  layer of the base network.

  Attributes:
    lr: the fraction of the way each unit moves toward the (weighted) mean of its inputs
      in a batch, in (0, 1]: a convex combination, so stable at any width and input
      scale; 1 moves every centroid to its batch mean (Lloyd's step on each batch). No
      published default fits a mini-batch rule: MacQueen's rate 1 / (wins so far), which
      Sculley (2010)'s mini-batch k-means keeps per centre, needs a count per unit
      (`counts`); with a constant rate the centroids fluctuate by O(lr / wins per batch);
      0.1 is that rate after ten wins.
    temperature: 0 for the hard variant (online k-means); above 0, the soft variant, with
      shares `softmax_k(-|x - w_k|^2 / (temperature * tr C))`, tr C the batch's total
      variance, so one temperature suits any input scale and width: a gap in squared
      distance of temperature * tr C between two centroids is one unit of logit. 0.01
      is nearly hard; at 0.1 the centroids of 14x14 images are pulled 5 to 13% above
      k-means's inertia; above deterministic annealing's critical temperature
      2 lambda_max(C) / tr C (Rose et al. 1990; about 0.3 on digits) every centroid
      collapses onto the mean and the layer's units become identical.
    counts: False (the default): one constant rate. True: MacQueen's rate as Sculley
      (2010)'s mini-batch k-means keeps it, a count of wins per unit (the rule's state,
      `local_rule.HasState`): a unit that won m_k inputs of the batch, n_k in all so far,
      moves m_k / n_k of the way to their mean (each centroid the running mean of every
      input it won); a unit that won nothing moves at lr toward the input it came
      closest to winning, as without counts. Soft wins (temperature > 0) count their
      shares.
    lr_schedule: "constant" or "linear" (`schedule.ScheduledRule`; the rate of units
      that won nothing, under counts).

  Raises:
    ValueError: (one line, at construction) lr outside (0, 1], a negative temperature,
      counts not a bool, or an unknown lr_schedule.
  """

  lr: float = 0.1
  temperature: float = 0.0
  counts: bool = False

  def __post_init__(self) -> None:
    if not isinstance(self.lr, (int, float)) or not 0 < self.lr <= 1:
      raise ValueError(f"competitive rule: lr must be in (0, 1], got {self.lr!r}")
    if not isinstance(self.temperature, (int, float)) or not self.temperature >= 0:
      raise ValueError(
        "competitive rule: temperature must be >= 0 (0: hard winner-take-all), "
        f"got {self.temperature!r}"
      )
    if not isinstance(self.counts, bool):
      raise ValueError(f"competitive rule: counts must be true or false, got {self.counts!r}")
    self.check_schedule()

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`competitive_step` with this config (see `local_rule.LayerwiseRule`)."""
    return competitive_step(w, x, self.lr, self.temperature)

  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """`competitive_increment` with this config at step size lr (`ScheduledRule`)."""
    return competitive_increment(w, x, lr, self.temperature)

  def init_state(self, params: base_model.BaseParams) -> list[jax.Array] | None:
    """The win counts, one [n_{l+1}] of zeros per layer; None without counts.

    Args:
      params: the fresh network.

    Returns:
      list of [n_{l+1}] float32, or None.
    """
    if not self.counts:
      return None
    return [jnp.zeros((w.shape[1],), jnp.float32) for w in params.W]

  def update_with_state(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: list[jax.Array] | None,
    info: local_rule.StepInfo,
  ) -> tuple[base_model.BaseParams, list[jax.Array] | None]:
    """One step with per-unit rates m_k / n_k (counts), at the scheduled rate otherwise.

    Args:
      theta: unused ({}).
      params: the network.
      acts: its forward pass on a batch.
      state: the win counts (`init_state`).
      info: the step and the task's length.

    Returns:
      (params with every W updated, the new counts).
    """
    if not self.counts:
      return super().update_with_state(theta, params, acts, state, info)
    assert state is not None, "the state of init_state"
    lr = self.lr * schedule.lr_factor(self.lr_schedule, info)
    new_w, counts = [], []
    for w, x, n in zip(params.W, acts.xs, state):
      wins = jnp.sum(unit_shares(w, x - jnp.mean(x, axis=0), self.temperature), axis=0)
      n = n + wins
      rate = jnp.where(wins > 0, wins / jnp.maximum(n, EPS), lr)
      new_w.append(w + competitive_increment(w, x, rate, self.temperature))
      counts.append(n)
    return params.replace(W=new_w), counts


@local_rule.register("soft_competitive")
@dataclasses.dataclass(frozen=True)
class SoftCompetitive(Competitive):
  """Soft competitive learning (Nowlan 1990; soft k-means): `Competitive` with a temperature
  above 0 by default, registered as a kind of its own so that the evaluation and the sweep
  treat the two variants as two rules.

  Attributes:
    lr: as `Competitive.lr`.
    temperature: 0.03, well below the collapse of deterministic annealing (about 0.3 on
      digits), where the soft shares still cover the few nearest centroids.
  """

  temperature: float = 0.03


def unit_shares(w: jnp.ndarray, x: jnp.ndarray, temperature: float | jax.Array) -> jnp.ndarray:
  """Each input's shares among the units: one-hot at its nearest centroid (temperature 0)
  or `softmax_k(-|x_b - w_k|^2 / (temperature * tr C))` (`unit_weights`' r_bk).

  Args:
    w: [in, out] centroids as columns.
    x: [B, in] inputs (centred).
    temperature: >= 0; a Python 0 is the hard rule.

  Returns:
    [B, out], each row summing to 1.
  """
  dist = jnp.sum(w**2, axis=0) - 2.0 * x @ w
  if isinstance(temperature, (int, float)) and temperature == 0:
    return jax.nn.one_hot(jnp.argmin(dist, axis=1), w.shape[1], dtype=x.dtype)
  total_var = jnp.sum(x**2) / x.shape[0]
  return jax.nn.softmax(-dist / (temperature * total_var + EPS), axis=1)


def unit_weights(w: jnp.ndarray, x: jnp.ndarray, temperature: float | jax.Array) -> jnp.ndarray:
  """Each unit's weights over the batch's inputs, the weighted mean of which it moves to.

  Soft (temperature > 0): soft k-means's M-step weights r_bk / sum_b r_bk, with the shares
  `r_bk = softmax_k(-|x_b - w_k|^2 / (temperature * tr C))` of input b among the units. Hard
  (temperature 0), their limit as the temperature goes to 0: a unit that is the nearest
  centroid of some inputs weighs those equally (online k-means); a unit that is nobody's
  nearest puts all its weight on the input it came closest to winning (smallest
  `|x_b - w_k|^2 - min_j |x_b - w_j|^2`), so it moves into the data instead of staying dead,
  which is competitive learning's classic failure (Rumelhart & Zipser 1985 answer it with
  "leaky learning", losers moving toward every input at a lower rate) and what
  `base_model.init`'s columns, far from the data, would otherwise cause for most units.

  Args:
    w: [in, out] centroids as columns.
    x: [B, in] inputs (centred).
    temperature: >= 0; a Python 0 is the hard rule, a traced value the soft one.

  Returns:
    [B, out], each column summing to 1.
  """
  # |x|^2 is the same for every unit: it changes neither the winner nor the softmax.
  dist = jnp.sum(w**2, axis=0) - 2.0 * x @ w
  # A traced temperature (a meta-learned one) is always the soft rule.
  if isinstance(temperature, (int, float)) and temperature == 0:
    won = jax.nn.one_hot(jnp.argmin(dist, axis=1), w.shape[1], dtype=x.dtype)
    wins = jnp.sum(won, axis=0)
    behind = dist - jnp.min(dist, axis=1, keepdims=True)
    closest = jax.nn.one_hot(jnp.argmin(behind, axis=0), x.shape[0], dtype=x.dtype).T
    return jnp.where(wins > 0, won / jnp.maximum(wins, 1.0), closest)
  total_var = jnp.sum(x**2) / x.shape[0]
  log_r = jax.nn.log_softmax(-dist / (temperature * total_var + EPS), axis=1)
  # Normalised over the batch in the log domain: a far unit, whose shares all underflow,
  # still gets its exact weights (the hard limit's behaviour above).
  return jax.nn.softmax(log_r, axis=0)


def competitive_step(
  w: jnp.ndarray, x: jnp.ndarray, lr: float, temperature: float | jax.Array = 0.0
) -> jnp.ndarray:
  """One step of the rule on one layer: w + `competitive_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + competitive_increment(w, x, lr, temperature)


def competitive_increment(
  w: jnp.ndarray, x: jnp.ndarray, lr: float | jax.Array, temperature: float | jax.Array = 0.0
) -> jnp.ndarray:
  """One step of competitive learning on one layer: every unit k moves a fraction lr from
  w_k toward the weighted mean of the batch's inputs (`unit_weights`), i.e. the instar rule
  dw_k = lr sum_b r_bk (x_b - w_k) normalised by the unit's own share of the batch.

  The input is centred over the batch first. k-means is translation-equivariant, so the
  centroids are those of the raw input minus its mean (the same clustering), but the
  forward pass reads x . w_k, not a distance: raw centroids all share the input's mean m,
  whose current x . m then dominates every unit of a layer fed by a relu layer (or by
  images standardised with one mean for all pixels), and the units' features come out
  nearly alike (14x14 MNIST, (64, 64, 32), 10^4 steps: ridge 10-shot accuracy 0.35 raw,
  0.69 centred).

  Args:
    w: [in, out] centroids as columns.
    x: [B, in] the layer's input on a batch.
    lr: in (0, 1].
    temperature: 0 (hard) or the soft variant's temperature.

  Returns:
    [in, out] the increment: the step is w + this (`competitive_step`).
  """
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  x = x - jnp.mean(x, axis=0)
  return lr * (x.T @ unit_weights(w, x, temperature) - w)


def _is_competitive(rule: Any) -> bool:
  return getattr(type(rule), "kind", None) in ("competitive", "soft_competitive")


# A competitive rule is the hard term at temperature 0, else the soft one, whichever class.
TERM = record.Term(
  "competitive",
  lambda w, x, lr, hp, *, p, k: competitive_increment(w, x, lr, 0.0),
  is_rule=lambda rule: _is_competitive(rule) and rule.temperature == 0,
)
_TEMPERATURE = record.Hyperparameter(
  "soft_competitive_log_temperature", "temperature", SoftCompetitive.temperature, log=True
)
SOFT_TERM = record.Term(
  "soft_competitive",
  lambda w, x, lr, hp, *, p, k: competitive_increment(
    w, x, lr, _TEMPERATURE.value(hp[_TEMPERATURE.key])
  ),
  is_rule=lambda rule: _is_competitive(rule) and rule.temperature != 0,
  hyperparameters=(_TEMPERATURE,),
)
