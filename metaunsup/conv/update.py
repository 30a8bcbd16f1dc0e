"""A rule's step on the convolutional network (issue 38): the zoo's hand-designed rules and
the compact rule, whose updates are built from per-layer terms (`rules.zoo.terms`), each a
function of the layer's weights and its own input alone. On a conv layer that input is
its patches, [N * P, kh * kw * C_in], and W is [kh * kw * C_in, C_out] (`network`): the
same term functions, no new rule math, the rule's batch being examples x positions. The
compact rule gives layer l its per-term step sizes as on the MLP
(`CompactRule.layer_increment`: the first trainable layer is the first layer group, the
others the second), with its learned schedule where it has one.

Rules that keep state or follow a schedule of the run's length (`rules.zoo.schedule`) are
refused, as a mix of terms refuses them (`zoo.terms.from_rule`); the learned rule, which
sends signals down through feedback weights, has no conv form yet.
"""

from __future__ import annotations

from typing import Any

import jax

from metaunsup import local_rule
from metaunsup.conv import network
from metaunsup.rules.compact import CompactRule
from metaunsup.rules.zoo import krotov_hopfield, terms


def zoo_term(rule: Any) -> tuple[str, float, dict[str, jax.Array], float, int]:
  """The term that is a zoo rule, with everything its increment takes.

  Args:
    rule: a zoo rule instance (`zoo.terms.from_rule`).

  Returns:
    (term, lr, hyperparameters, p, k): p and k Krotov-Hopfield's (the rule's own for a
    Krotov-Hopfield rule, the terms' defaults otherwise, which no other term reads).

  Raises:
    ValueError: the rule is no zoo term, or has a schedule or state (one line).
  """
  if not any(t.is_rule(rule) for t in terms.RECORDS.values()):
    raise ValueError(
      f"a conv network trains with the compact rule or a zoo rule ({', '.join(terms.TERMS)}), "
      f"whose updates are terms of a layer's own input; a rule of kind "
      f"{getattr(type(rule), 'kind', type(rule).__name__)!r} is neither"
    )
  p, k = (rule.p, rule.k) if isinstance(rule, krotov_hopfield.KrotovHopfield) else (3.0, 7)
  term, lr, params = terms.from_rule(rule, p=p, k=k)
  return term, lr, params, p, k


def check_rule(rule: local_rule.LocalRule) -> None:
  """A one-line error unless `rule` can train a conv network (module docstring).

  Args:
    rule: a rule config.

  Raises:
    ValueError: neither the compact rule nor a zoo rule of constant lr without state.
  """
  if not isinstance(rule, CompactRule):
    zoo_term(rule)


def increments(
  rule: local_rule.LocalRule,
  theta: local_rule.Theta,
  params: network.ConvParams,
  acts: network.ConvActivations,
  step: jax.Array | int,
) -> list[jax.Array]:
  """The rule's increment on every trainable layer from its weights and its input.

  Args:
    rule: the compact rule or a zoo rule (`check_rule`).
    theta: its meta-parameters ({} for a zoo rule).
    params: the network, W[l] [K_l, C_l].
    acts: its forward pass on a batch (`network.apply`), inputs[l] [N * P_l, K_l].
    step: scalar, inner steps taken (read by a compact rule with a learned schedule).

  Returns:
    L arrays [K_l, C_l]: the step is W[l] + increments[l].

  Raises:
    ValueError: a rule `check_rule` refuses.
  """
  pairs = list(zip(params.W, acts.inputs))
  if isinstance(rule, CompactRule):
    factors = rule.step_factors(theta, step) if rule.time_scales else None
    return [rule.layer_increment(theta, w, x, l, factors) for l, (w, x) in enumerate(pairs)]
  term, lr, hp, p, k = zoo_term(rule)
  return [terms.increment(term, w, x, lr, hp, p=p, k=k) for w, x in pairs]


def update(
  rule: local_rule.LocalRule,
  theta: local_rule.Theta,
  params: network.ConvParams,
  acts: network.ConvActivations,
  step: jax.Array | int,
) -> network.ConvParams:
  """One step of the rule on every trainable layer (b as it was: batch norm centres each
  channel, as `local_rule.LayerwiseRule` leaves the MLP's b).

  Args:
    rule, theta, params, acts, step: as `increments`.

  Returns:
    params with every W updated.

  Raises:
    ValueError: a rule `check_rule` refuses.
  """
  deltas = increments(rule, theta, params, acts, step)
  return params.replace(W=[w + d for w, d in zip(params.W, deltas)])
