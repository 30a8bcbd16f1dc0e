"""The zoo's rules as update terms of a learned rule: each hand-designed rule's increment on
one layer by name, with its continuous hyperparameters as (meta-learnable) arrays, so that a
learned mix of them contains every rule of the zoo as a special case (issue 29; learned
optimisers contain the hand-designed method they start from in the same way).

A term's increment is the zoo function's own (`NAME_increment`), with its own step
normalisation, so a rule that mixes terms with weights lr_t steps W + sum_t
increment_t(W, x, lr_t), and one term at the zoo rule's lr is that rule's step.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from metaunsup.baselines import oja
from metaunsup.zoo import bcm, competitive, krotov_hopfield, sanger, softhebb

TERMS = (
  "oja",
  "sanger",
  "competitive",
  "soft_competitive",
  "krotov_hopfield",
  "softhebb",
  "bcm",
)

# Each term's step size as chosen by experiments/zoo_sweep.py on meta-training data only
# (Fashion-MNIST and alphabet train splits, 64-64-32 relu, 10^2-10^4 steps;
# experiments/results/zoo/sweep.json): the natural scale of each term, which differs by
# 400x between terms, so that a mix of terms can be learned in units of it. Learned rules
# store their step sizes in these units: change a value only with a new term name.
SWEEP_LR = {
  "oja": 0.5,
  "sanger": 0.5 / 81,
  "competitive": 0.1 / 27,
  "soft_competitive": 0.1 / 81,
  "krotov_hopfield": 0.02 / 9 * 3,
  "softhebb": 0.2,
  "bcm": 0.03,
}


def init_params() -> dict:
  """The terms' continuous hyperparameters at the zoo rules' defaults, as meta-parameters.

  Returns:
    {"soft_competitive_log_temperature": log 0.03, "softhebb_log_inverse_temperature":
    log 112, "krotov_hopfield_delta": 0.4}, float32 scalars (log-scale where the value
    must stay positive).
  """
  return {
    "soft_competitive_log_temperature": jnp.asarray(math.log(0.03), jnp.float32),
    "softhebb_log_inverse_temperature": jnp.asarray(math.log(112.0), jnp.float32),
    "krotov_hopfield_delta": jnp.asarray(0.4, jnp.float32),
  }


def increment(term: str, w, x, lr, params: dict, *, p: float = 3.0, k: int = 7):
  """One term's increment on one layer.

  Args:
    term: a name of `TERMS`.
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the term's step size (a scalar, traced or not; may be 0 or negative).
    params: the terms' hyperparameters (`init_params`'s structure).
    p: Krotov-Hopfield's Lebesgue norm (static).
    k: Krotov-Hopfield's anti-Hebbian rank (static).

  Returns:
    [in, out]: the zoo rule's step on this layer is w + this at its lr.

  Raises:
    ValueError: an unknown term.
  """
  if term == "oja":
    return oja.oja_increment(w, x, lr)
  if term == "sanger":
    return sanger.sanger_increment(w, x, lr, False)
  if term == "competitive":
    return competitive.competitive_increment(w, x, lr, 0.0)
  if term == "soft_competitive":
    temperature = jnp.exp(params["soft_competitive_log_temperature"])
    return competitive.competitive_increment(w, x, lr, temperature)
  if term == "krotov_hopfield":
    return krotov_hopfield.krotov_hopfield_increment(
      w, x, lr, p, k, params["krotov_hopfield_delta"]
    )
  if term == "softhebb":
    inverse_temperature = jnp.exp(params["softhebb_log_inverse_temperature"])
    return softhebb.softhebb_increment(w, x, lr, inverse_temperature)
  if term == "bcm":
    return bcm.bcm_increment(w, x, lr)
  raise ValueError(f"unknown zoo term {term!r}; known: {', '.join(TERMS)}")


def from_rule(zoo_rule, *, p: float = 3.0, k: int = 7) -> tuple[str, float, dict]:
  """The term, step size and hyperparameters that make a mix of terms one zoo rule.

  Args:
    zoo_rule: an instance of a zoo rule (`metaunsup.zoo`) or `baselines.oja.OjaConfig`;
      `zoo.sanger.Sanger` with subspace=True is the "oja" term, and a competitive rule is
      "competitive" at temperature 0, else "soft_competitive", whichever class it is.
    p, k: the mixing rule's Krotov-Hopfield p and k, which a Krotov-Hopfield rule must share.

  Returns:
    (term, lr, params): params is `init_params` with the rule's own values.

  Raises:
    ValueError: a rule that is not one of `TERMS`, or a Krotov-Hopfield rule of another p
      or k (or a precision other than the default, which no term varies) (one line each).
  """
  kind = getattr(type(zoo_rule), "kind", None)
  params = init_params()
  if kind == "sanger" and zoo_rule.subspace:
    kind = "oja"
  if kind in ("competitive", "soft_competitive"):
    kind = "competitive" if zoo_rule.temperature == 0 else "soft_competitive"
  if kind not in TERMS:
    raise ValueError(f"a rule of kind {kind!r} is not a zoo term; the terms are {', '.join(TERMS)}")
  if kind == "soft_competitive":
    params["soft_competitive_log_temperature"] = jnp.asarray(
      math.log(zoo_rule.temperature), jnp.float32
    )
  if kind == "softhebb":
    params["softhebb_log_inverse_temperature"] = jnp.asarray(
      math.log(zoo_rule.inverse_temperature), jnp.float32
    )
  if kind == "krotov_hopfield":
    default_precision = krotov_hopfield.KrotovHopfield.precision
    if (zoo_rule.p, zoo_rule.k, zoo_rule.precision) != (p, k, default_precision):
      raise ValueError(
        f"the krotov_hopfield rule has p={zoo_rule.p}, k={zoo_rule.k}, precision="
        f"{zoo_rule.precision}, the mixing rule's term p={p}, k={k}, precision="
        f"{default_precision}; set the rule's krotov_hopfield_p / krotov_hopfield_k to match"
      )
    params["krotov_hopfield_delta"] = jnp.asarray(zoo_rule.delta, jnp.float32)
  return kind, float(zoo_rule.lr), params
