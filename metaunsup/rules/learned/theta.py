"""The learned rule's meta-parameters: their initial values and the check that a theta (read
from a file) fits a config."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rules.zoo import terms as term_records

if TYPE_CHECKING:
  from metaunsup.rules.learned.rule import LearnedRule


def init_theta(key: jax.Array, cfg: LearnedRule) -> dict[str, Any]:
  """Random initial meta-parameters theta for `cfg`.

  Args:
    key: PRNG key.
    cfg: the rule config; only C, H, R and the number of terms set the shapes.

  Returns:
    dict of float32 arrays: the unit network's weights (e.g. "unit_example"
    [2 + C, H], "unit_static" [13, H], "unit_self" [H, H]), the top-down network's
    ("top_in" [2, C], "top_out" [C, C]), the readouts ("readout_bot" / "readout_top"
    [H, R]), "mix" [num_terms], and scalar "lr_logit" / "bias_lr_logit". Weights are
    normal / sqrt(fan-in), mix 0.1 * normal, lr_logit = cfg.init_lr_logit and
    bias_lr_logit = -2; none depends on the base network's sizes. With `competition`,
    "unit_example" is [4 + C, H] and scalar "competition_log_temperature" = log 1; with
    `zoo_terms`, scalar "learned_gate" = 1, "zoo_lr" [len(zoo_terms)] = 0 (the rule
    without the zoo terms) and, when some term has parameters, "zoo_params", a dict of
    scalars at the zoo rules' defaults (the terms' records); with `time_scales`,
    "unit_time" [F, H] = 0 (the time features' weights into the unit network: the rule
    without them). These are not drawn from `key`: the random entries are those of the
    config without them.
  """
  C, H, R = cfg.channels, cfg.hidden, cfg.readout_rank
  shapes = {
    "top_in": (2, C),
    "top_out": (C, C),
    "unit_example": (cfg.example_features, H),
    "unit_static": (cfg.unit_features, H),
    "unit_self": (H, H),
    "unit_pool": (H, H),
    "unit_neighbours": (H, H),
    "delta_out": (H, C),
    "readout_bot": (H, R),
    "readout_top": (H, R),
    "within_a": (H, R),
    "within_b": (H, R),
    "bias_out": (H,),
  }
  keys = jax.random.split(key, len(shapes) + 1)
  theta: dict[str, Any] = {  # arrays, and the dict "zoo_params"
    name: jax.random.normal(k, shape) / math.sqrt(shape[0])
    for k, (name, shape) in zip(keys, sorted(shapes.items()))
  }
  theta["mix"] = 0.1 * jax.random.normal(keys[-1], (cfg.num_terms,))
  theta["lr_logit"] = jnp.full((), cfg.init_lr_logit, jnp.float32)
  theta["bias_lr_logit"] = jnp.full((), -2.0, jnp.float32)
  if cfg.competition:
    # z is batch-normalised: at temperature 1 the shares spread over the few units of an
    # example's largest z (one sd apart is a factor e), neither one-hot nor uniform.
    theta["competition_log_temperature"] = jnp.zeros((), jnp.float32)
  if cfg.zoo_terms:
    theta["learned_gate"] = jnp.ones((), jnp.float32)
    theta["zoo_lr"] = jnp.zeros((len(cfg.active_zoo_terms),), jnp.float32)
    params = {h.key: h.stored(h.default) for h in term_records.hyperparameters(cfg.zoo_terms)}
    if params:
      theta["zoo_params"] = params
  return extend_theta(theta, cfg)


def extend_theta(theta: dict[str, Any], cfg: LearnedRule) -> dict[str, Any]:
  """theta with the time features' weights at 0 where the config has time_scales and theta
  has none (a warm start from a time-blind rule file begins at that rule).

  Args:
    theta: the learned rule's meta-parameters.
    cfg: the rule config.

  Returns:
    theta, with "unit_time" [F, H] zeros added where needed.
  """
  if not cfg.time_scales or "unit_time" in theta:
    return theta
  return {**theta, "unit_time": jnp.zeros((len(cfg.time_scales), cfg.hidden), jnp.float32)}


def check_theta(theta: local_rule.Theta, cfg: LearnedRule) -> None:
  """Raise a one-line error when theta was made for another rule config.

  Args:
    theta: meta-parameters, e.g. read from a rule file.
    cfg: the rule config they should fit.

  Raises:
    ValueError: a missing entry or one of another shape, naming it and both shapes.
  """
  expected = jax.eval_shape(lambda: init_theta(jax.random.PRNGKey(0), cfg))
  # Leaf by leaf, theta["zoo_params"]'s entries included; entries theta has beyond the
  # config's are not refused (as before the zoo terms).
  differ = local_rule.theta_mismatch(theta, expected, "the learned rule's config", extra_ok=True)
  if differ:
    raise ValueError(f"{differ}; {local_rule.THETA_FIX}")
