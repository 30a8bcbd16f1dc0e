"""The compact learned rule: a learned mix of the zoo's hand-designed updates (issue 29's
second design; Shervani-Tabar & Rosenbaum 2023 meta-learn such a mix of a few plasticity
terms). Tens of meta-parameters instead of the learned rule's thousands: one step size per
term and layer group, the terms' own hyperparameters (soft competition's temperature,
SoftHebb's inverse temperature, Krotov-Hopfield's anti-Hebbian strength) and a global
log step size, small enough for a forward-only estimator (antithetic ES, PES).

Every layer learns from its own input, as the zoo's rules do (`local_rule.LayerwiseRule`)::

    W_l <- W_l + sum_t zoo_increment_t(W_l, x_l, exp(log_lr) * mix[t, g(l)] * scale_t)

with g(l) = 0 for the first layer (which sees the input) and 1 for the others, scale_t the
term's own step size (`term_scales`: the zoo sweep's, which differ by 400x between terms,
so that an isotropic ES perturbation of the mix means the same for every term), and b and
V left as they are. A mix that is one-hot on a term at that rule's lr is that rule: the warm
start `theta_from` (`config.meta.init_rule="zoo:NAME"`) begins meta-training at the
hand-designed rule's quality.

Learned schedules (issue 37): with `time_scales` (tau_1..tau_F), each term's step size in each
layer group is modulated by a learned function of the inner step t::

    mix[t, g] -> mix[t, g] * exp(sum_f schedule[f, t, g] * tanh(t / tau_f - 1)),

the time features of learned_optimization's MLP optimizers. schedule starts at 0, where the
factor is exactly 1: the rule is then its time-blind version, bit for bit, so a warm start
from a time-blind rule file (`extend_theta`) begins meta-training at that rule. The features
read the step only, never the task's length: one run serves every horizon (an anytime rule).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, local_rule
from metaunsup.rules import time_features
from metaunsup.rules.zoo import terms as term_records

LAYER_GROUPS = ("first", "rest")
# The inner steps at which a run's summary reports the learned schedule's factors.
SUMMARY_STEPS = (0, 10, 100, 1000, 10000)


@local_rule.register("compact")
@dataclasses.dataclass(frozen=True)
class CompactRule(time_features.ReadsTheStep, local_rule.LocalRuleBase):
  """A learned, sparse mix of the zoo's updates (module docstring).

  Attributes:
    terms: the zoo terms mixed, a non-empty subset of `zoo.terms.TERMS`.
    term_scales: each term's unit of step size, aligned with `terms`; () (the default)
      takes `zoo.terms.SWEEP_LR`'s, and the instance (so a rule file) holds the values.
    krotov_hopfield_p: Krotov-Hopfield's Lebesgue norm (static; >= 2).
    krotov_hopfield_k: its anti-Hebbian rank (static; >= 2).
    init_lr: the global step-size factor of a random theta (exp(theta["log_lr"])).
    l1: weight of the L1 penalty on the mix that meta-training adds to the meta-loss
      (`penalty`), which drives unhelpful terms to 0; 0: none.
    time_scales: tau of the learned schedule's features tanh(t / tau - 1), in inner steps
      (module docstring); () (the default): a time-blind rule, as before.

  Raises:
    ValueError: an unknown or empty `terms`, term_scales not one positive number per term,
      p or k below 2, init_lr not positive, a negative l1, or time_scales not distinct
      positive numbers (one line, at construction).
  """

  terms: tuple[str, ...] = term_records.TERMS
  term_scales: tuple[float, ...] = ()
  krotov_hopfield_p: float = 3.0
  krotov_hopfield_k: int = 7
  init_lr: float = 1.0
  l1: float = 0.0
  time_scales: tuple[float, ...] = ()

  def __post_init__(self) -> None:
    unknown = set(self.terms) - set(term_records.TERMS)
    if unknown or not self.terms or len(set(self.terms)) != len(self.terms):
      raise ValueError(
        f"compact rule: terms must be distinct names of {term_records.TERMS}, got {self.terms}"
      )
    if not self.krotov_hopfield_p >= 2 or not (
      isinstance(self.krotov_hopfield_k, int) and self.krotov_hopfield_k >= 2
    ):
      raise ValueError(
        "compact rule: krotov_hopfield_p must be >= 2 and krotov_hopfield_k an integer "
        f">= 2, got {self.krotov_hopfield_p!r}, {self.krotov_hopfield_k!r}"
      )
    if not self.term_scales:
      object.__setattr__(self, "term_scales", tuple(term_records.SWEEP_LR[t] for t in self.terms))
    scales = tuple(self.term_scales)
    if len(scales) != len(self.terms) or not all(
      isinstance(v, (int, float)) and v > 0 for v in scales
    ):
      raise ValueError(
        f"compact rule: term_scales must be {len(self.terms)} positive numbers, one per "
        f"term, or () for the zoo sweep's; got {self.term_scales!r}"
      )
    object.__setattr__(self, "term_scales", tuple(float(v) for v in scales))
    if not self.init_lr > 0 or not self.l1 >= 0:
      raise ValueError(
        f"compact rule: init_lr must be > 0 and l1 >= 0, got {self.init_lr!r}, {self.l1!r}"
      )
    taus = time_features.check_time_scales(self.time_scales, "compact rule: ")
    object.__setattr__(self, "time_scales", taus)

  def init_theta(self, key: jax.Array) -> dict[str, Any]:
    """A random theta: mix entries 1/num_terms +- 20% (every term on at first, at a
    fraction of its own step size, none dominating), the terms' hyperparameters at the
    zoo's defaults.

    Args:
      key: PRNG key.

    Returns:
      {"log_lr": [] float32, "mix": [num_terms, 2] (first layer, the others),
      "params": the hyperparameters of the rule's own terms (`zoo.terms.init_params`)},
      and with time_scales "schedule": [F, num_terms, 2] zeros (`extend_theta`).
    """
    n = len(self.terms)
    mix = (1.0 + 0.2 * jax.random.normal(key, (n, len(LAYER_GROUPS)))) / n
    return self.extend_theta(
      {
        "log_lr": jnp.asarray(math.log(self.init_lr), jnp.float32),
        "mix": mix.astype(jnp.float32),
        "params": term_records.init_params(self.terms),
      }
    )

  def extend_theta(self, theta: dict[str, Any]) -> dict[str, Any]:
    """theta with the learned schedule this config adds at 0 (a factor of exactly 1 at
    every step), where it has none: a time-blind rule's theta (a warm start from an older
    rule file, `training.state.warm_start_theta`) becomes this rule's without changing a
    step.

    Args:
      theta: a compact rule's meta-parameters, with or without "schedule".

    Returns:
      theta, with "schedule" [F, num_terms, 2] zeros added when time_scales is set and it
      has none; unchanged otherwise.
    """
    if not self.time_scales or "schedule" in theta:
      return theta
    shape = (len(self.time_scales), len(self.terms), len(LAYER_GROUPS))
    return {**theta, "schedule": jnp.zeros(shape, jnp.float32)}

  def step_factors(self, theta: local_rule.Theta, step: jax.Array | int) -> jax.Array:
    """The learned schedule's factor on every term's step size at inner step `step`.

    Args:
      theta: the meta-parameters (with "schedule"; time_scales set).
      step: scalar, inner steps taken.

    Returns:
      [num_terms, 2] float32: exp(sum_f schedule[f] * tanh(step / tau_f - 1)).
    """
    feats = time_features.features(step, self.time_scales)
    return jnp.exp(jnp.einsum("f,ftg->tg", feats, theta["schedule"]))

  def theta_from(self, zoo_rule: Any, key: jax.Array) -> dict[str, Any]:
    """theta that makes this rule `zoo_rule` (a warm start: `meta.init_rule="zoo:NAME"`).

    Args:
      zoo_rule: a zoo rule instance (`zoo.terms.from_rule`).
      key: PRNG key (unused: the warm start is deterministic).

    Returns:
      theta with the mix one-hot at the rule's term (both layer groups), log_lr the log
      of its lr over the term's scale and its own hyperparameters.

    Raises:
      ValueError: the rule is no zoo term or not one of `terms`, or has another p or k.
    """
    del key
    term, lr, params = term_records.from_rule(
      zoo_rule, p=self.krotov_hopfield_p, k=self.krotov_hopfield_k
    )
    if term not in self.terms:
      raise ValueError(f"the compact rule's terms {self.terms} lack {term!r}; add it to rule.terms")
    mix = np.zeros((len(self.terms), len(LAYER_GROUPS)), np.float32)
    mix[self.terms.index(term)] = 1.0
    return self.extend_theta(
      {
        "log_lr": jnp.asarray(math.log(lr / self.term_scales[self.terms.index(term)]), jnp.float32),
        "mix": jnp.asarray(mix),
        "params": {h.key: params[h.key] for h in term_records.hyperparameters(self.terms)},
      }
    )

  def update(
    self, theta: local_rule.Theta, params: base_model.BaseParams, acts: base_model.Activations
  ) -> base_model.BaseParams:
    """One step on every layer (module docstring).

    Args:
      theta: the meta-parameters (`init_theta`).
      params: the network, W[l] [n_l, n_{l+1}].
      acts: its forward pass on a batch, acts.xs[l] [B, n_l] (one more entry than layers).

    Returns:
      params with every W updated (b and V as they were).

    Raises:
      ValueError: the rule has a learned schedule (time_scales), which needs the step:
        the inner loop calls `update_with_state`.
    """
    if self.time_scales:
      raise ValueError(
        "a compact rule with time_scales needs the inner step: call update_with_state "
        "(the inner loop, apply_rule and the evaluation do)"
      )
    return self._update(theta, params, acts, None)

  def update_with_state(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: None,
    info: local_rule.StepInfo,
  ) -> tuple[base_model.BaseParams, None]:
    """One step at inner step `info.step` (`update`, each term's step size times the
    learned schedule's factor where time_scales is set).

    Args:
      theta: the meta-parameters (`init_theta`).
      params: the network, W[l] [n_l, n_{l+1}].
      acts: its forward pass on a batch, acts.xs[l] [B, n_l] (one more entry than layers).
      state: None (the rule keeps none).
      info: the step (`info.step`; `info.total` is not read).

    Returns:
      (params with every W updated, None).
    """
    factors = self.step_factors(theta, info.step) if self.time_scales else None
    return self._update(theta, params, acts, factors), state

  def _update(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    factors: jax.Array | None,
  ) -> base_model.BaseParams:
    chex.assert_equal(len(acts.xs), len(params.W) + 1)
    return params.replace(
      W=[
        w + self.layer_increment(theta, w, x, l, factors)
        for l, (w, x) in enumerate(zip(params.W, acts.xs))
      ]
    )

  def layer_increment(
    self,
    theta: local_rule.Theta,
    w: jax.Array,
    x: jax.Array,
    layer: int,
    factors: jax.Array | None = None,
  ) -> jax.Array:
    """The rule's increment on one layer from its weights and its own input alone (module
    docstring): what `update` adds to each W, and what a network of another form (the
    convolutional one of `metaunsup.conv`, its input patches as x) adds to each layer.

    Args:
      theta: the meta-parameters (`init_theta`).
      w: [in, out] the layer's weights.
      x: [B, in] the layer's input on a batch.
      layer: the layer's index from the input (static): 0 is the first layer group, any
        other the second.
      factors: [num_terms, 2] the learned schedule's factors at this step (`step_factors`),
        or None for a time-blind step.

    Returns:
      [in, out]: sum_t zoo_increment_t(w, x, exp(log_lr) * mix[t, g] * scale_t (* factor)).
    """
    lr = jnp.exp(theta["log_lr"])
    group = min(layer, len(LAYER_GROUPS) - 1)
    increments = [
      term_records.increment(
        t,
        w,
        x,
        _scaled(lr * theta["mix"][i, group] * scale, factors, i, group),
        theta["params"],
        p=self.krotov_hopfield_p,
        k=self.krotov_hopfield_k,
      )
      for i, (t, scale) in enumerate(zip(self.terms, self.term_scales))
    ]
    return sum(increments[1:], increments[0])

  def penalty(self, theta: local_rule.Theta) -> jax.Array:
    """The L1 penalty meta-training adds to the meta-loss (`training.meta_step`).

    Args:
      theta: the meta-parameters.

    Returns:
      scalar: `l1 * sum |mix|`.
    """
    return self.l1 * jnp.sum(jnp.abs(theta["mix"]))

  def summary(self, theta: local_rule.Theta) -> dict[str, Any]:
    """What the rule learned, for a run's summary.json.

    Args:
      theta: the learned meta-parameters.

    Returns:
      {"compact_lr": exp(log_lr), "compact_mix": {term: [first layer, others]} (each
      term's step size in units of its zoo-sweep step size, exp(log_lr) * mix, 5
      significant digits), "compact_params": the terms' hyperparameters (temperatures,
      not their logs)}, and with time_scales "compact_schedule": {inner step: {term:
      [first layer, others]}}, the schedule's factor on the mix at `SUMMARY_STEPS`.
    """
    lr = float(np.exp(theta["log_lr"]))
    mix = np.asarray(theta["mix"]) * lr
    params = {}
    for t in self.terms:
      for h in term_records.RECORDS[t].hyperparameters:
        stored = float(theta["params"][h.key])
        params[f"{t}_{h.field}"] = math.exp(stored) if h.log else stored
    out = {
      "compact_lr": lr,
      "compact_mix": {t: [float(f"{v:.5g}") for v in mix[i]] for i, t in enumerate(self.terms)},
      "compact_params": params,
    }
    if self.time_scales:
      out["compact_schedule"] = {
        str(step): {
          t: [float(f"{v:.5g}") for v in np.asarray(self.step_factors(theta, step))[i]]
          for i, t in enumerate(self.terms)
        }
        for step in SUMMARY_STEPS
      }
    return out

  def check_theta(self, theta: local_rule.Theta) -> None:
    """A one-line error when theta does not fit this config. Hyperparameters of terms the
    rule does not mix are allowed (rule files written before theta["params"] held only the
    rule's own terms carry every term's), and ignored.

    Args:
      theta: meta-parameters, e.g. read from a rule file.

    Raises:
      ValueError: a missing, extra or differently shaped entry, naming it.
    """
    expected = jax.eval_shape(lambda: self.init_theta(jax.random.PRNGKey(0)))
    known = set(term_records.init_params())
    if isinstance(theta, dict) and isinstance(theta.get("params"), dict):
      theta = {
        **theta,
        "params": {
          k: v for k, v in theta["params"].items() if k not in known or k in expected["params"]
        },
      }
    local_rule.check_theta_shapes(theta, expected, self.kind)


def _scaled(step: jax.Array, factors: jax.Array | None, term: int, group: int) -> jax.Array:
  # No multiplication at all without a schedule: the time-blind rule's ops, bit for bit.
  return step if factors is None else step * factors[term, group]
