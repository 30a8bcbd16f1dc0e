"""The zoo's rules as update terms of a learned rule: each hand-designed rule's increment on
one layer by name, with its continuous hyperparameters as (meta-learnable) arrays, so that a
learned mix of them contains every rule of the zoo as a special case (issue 29; learned
optimisers contain the hand-designed method they start from in the same way).

Every term is one record (`record.Term`) kept in its rule's file; this module orders them.
A term's increment is the zoo function's own (`NAME_increment`), with its own step
normalisation, so a rule that mixes terms with weights lr_t steps W + sum_t
increment_t(W, x, lr_t), and one term at the zoo rule's lr is that rule's step.
"""

from __future__ import annotations

from typing import Any, Iterable

import jax

from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, oja, record, sanger, softhebb

# The terms in the order of a learned rule's theta["zoo_lr"]: a new term goes at the end.
RECORDS: dict[str, record.Term] = {
  t.name: t
  for t in (
    oja.TERM,
    sanger.TERM,
    competitive.TERM,
    competitive.SOFT_TERM,
    krotov_hopfield.TERM,
    softhebb.TERM,
    bcm.TERM,
  )
}
TERMS = tuple(RECORDS)

# Each term's unit of step size, from the committed zoo sweep (`record.swept_lr`).
SWEEP_LR = {name: t.sweep_lr for name, t in RECORDS.items()}


def hyperparameters(terms: Iterable[str] = TERMS) -> tuple[record.Hyperparameter, ...]:
  """The meta-learnable hyperparameters of `terms`, in `TERMS` order.

  Args:
    terms: term names.

  Returns:
    tuple of `record.Hyperparameter`.
  """
  wanted = set(terms)
  return tuple(h for name, t in RECORDS.items() if name in wanted for h in t.hyperparameters)


def init_params(terms: Iterable[str] = TERMS) -> dict[str, jax.Array]:
  """The terms' continuous hyperparameters at the zoo rules' defaults, as meta-parameters.

  Args:
    terms: the terms whose hyperparameters are wanted (default: every term).

  Returns:
    {key: float32 scalar}, in `TERMS` order; for every term {"soft_competitive_log_temperature":
    log 0.03, "krotov_hopfield_delta": 0.4, "softhebb_log_inverse_temperature": log 112}
    (log-scale where the value must stay positive).
  """
  return {h.key: h.stored(h.default) for h in hyperparameters(terms)}


def increment(
  term: str,
  w: jax.Array,
  x: jax.Array,
  lr: float | jax.Array,
  params: dict[str, jax.Array],
  *,
  p: float = 3.0,
  k: int = 7,
) -> jax.Array:
  """One term's increment on one layer.

  Args:
    term: a name of `TERMS`.
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the term's step size (a scalar, traced or not; may be 0 or negative).
    params: the terms' hyperparameters (`init_params`'s structure; at least the term's).
    p: Krotov-Hopfield's Lebesgue norm (static).
    k: Krotov-Hopfield's anti-Hebbian rank (static).

  Returns:
    [in, out]: the zoo rule's step on this layer is w + this at its lr.

  Raises:
    ValueError: an unknown term.
  """
  if term not in RECORDS:
    raise ValueError(f"unknown zoo term {term!r}; known: {', '.join(TERMS)}")
  return RECORDS[term].increment(w, x, lr, params, p=p, k=k)


# The zoo rules' schedule and state options at their time-blind, stateless values, the only
# ones a term of a mix reproduces (`rules.zoo.schedule`).
PUBLISHED_DEFAULTS = {"lr_schedule": "constant", "counts": False, "threshold_rate": 0.0}


def from_rule(
  zoo_rule: Any, *, p: float = 3.0, k: int = 7
) -> tuple[str, float, dict[str, jax.Array]]:
  """The term, step size and hyperparameters that make a mix of terms one zoo rule.

  Args:
    zoo_rule: an instance of a zoo rule (`metaunsup.rules.zoo`, Oja's included); Sanger's
      rule with subspace=True is the "oja" term, and a competitive rule is "competitive" at
      temperature 0, else "soft_competitive", whichever class it is (`record.Term.is_rule`).
    p, k: the mixing rule's Krotov-Hopfield p and k, which a Krotov-Hopfield rule must share.

  Returns:
    (term, lr, params): params is `init_params()` with the rule's own values.

  Raises:
    ValueError: a rule that is not one of `TERMS`, a Krotov-Hopfield rule of another p
      or k (or a precision other than the default, which no term varies), or a rule with a
      published schedule or state (`PUBLISHED_DEFAULTS`) (one line each).
  """
  matches = [t for t in RECORDS.values() if t.is_rule(zoo_rule)]
  if not matches:
    kind = getattr(type(zoo_rule), "kind", None)
    raise ValueError(f"a rule of kind {kind!r} is not a zoo term; the terms are {', '.join(TERMS)}")
  term = matches[0]
  reason = term.check_rule(zoo_rule, p, k) if term.check_rule else ""
  if reason:
    raise ValueError(reason)
  published = {f: v for f, v in PUBLISHED_DEFAULTS.items() if getattr(zoo_rule, f, v) != v}
  if published:
    raise ValueError(
      f"a {term.name} rule with {published} has a schedule or state that a mix of terms "
      f"(one constant step size each) cannot hold; start from it with {PUBLISHED_DEFAULTS}"
    )
  params = init_params()
  for h in term.hyperparameters:
    params[h.key] = h.stored(getattr(zoo_rule, h.field))
  return term.name, float(zoo_rule.lr), params
