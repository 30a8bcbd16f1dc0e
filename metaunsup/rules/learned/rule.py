"""The neuron-local learned update rule (Metz et al. 2019, Sec. 4) as a `LocalRule`: its
config, the checks of its values and the methods that drive it; the computation is in the
package's other modules (`unit_network`, `terms`, `update`, `theta`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, SupportsFloat

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import local_rule
from metaunsup.rules.learned import theta as theta_lib
from metaunsup.rules.learned import update as update_lib
from metaunsup.rules.learned.terms import ALL_TERMS, LOWRANK_TERMS, rule_terms_names
from metaunsup.rules.learned.unit_network import NUM_UNIT_ID, NUM_WEIGHT_STATS
from metaunsup.rules import time_features
from metaunsup.rules.zoo import terms as term_records

if TYPE_CHECKING:
  from metaunsup import base_model

# Hand-designed rules whose increments `zoo_terms` can add, in the order of theta["zoo_lr"]
# (read from `zoo.terms` wherever the rule uses them, so that a term added there is one).
ZOO_TERMS = term_records.TERMS


@local_rule.register("learned")
@dataclasses.dataclass(frozen=True)
class LearnedRule(time_features.ReadsTheStep, local_rule.LocalRuleBase):
  """Static sizes and switches of the rule (Metz et al., ICLR 2019, Sec. 4): the
  `local_rule.LocalRule` of kind "learned", the default kind of rule files and configs.

  Hashable, so it can close over jitted code. Only theta's shapes depend on it; the base
  network's sizes never do.

  Attributes:
    channels: C, channels of the top-down signal d.
    hidden: H, channels of each unit's state h.
    readout_rank: R, low-rank readouts per outer-product term.
    terms: the update terms mixed by theta["mix"], a non-empty subset of `ALL_TERMS`.
    unit_id_features: feed each unit a sine / cosine code of its position (breaks
      permutation equivariance over units when True).
    cross_unit_mixing: add a length-3 convolution over the unit axis of the pooled states.
    lr_max: cap on the learned inner step size, relative to each receptive field's rms.
    bias_lr_max: cap on the bias step size.
    anti_collapse: weight of the fixed pull pushing receptive fields apart.
    init_lr_logit: the initial inner step size is lr_max * sigmoid(init_lr_logit).
    competition: give the unit network two more per-example inputs, the unit's standing
      within its layer: its softmax share of the layer's (batch-normalised) pre-activations
      at a learned temperature (theta["competition_log_temperature"]) and its rank among
      the layer's units, scaled to [0, 1] (`competition_features`).
    zoo_terms: hand-designed rules (a subset of `zoo.terms.TERMS`) whose increments are added to
      the learned one, each at a learned step size theta["zoo_lr"][t] (initially 0; in units
      of the term's zoo-sweep step size, `zoo.terms.SWEEP_LR`, which differ 400x), the
      learned increment itself scaled by theta["learned_gate"] (initially 1); see
      `_apply_update_with_zoo`. () (the default): the rule without them.
    krotov_hopfield_p: the Lebesgue norm p of the "krotov_hopfield" term (>= 2; static,
      it shapes the computation).
    krotov_hopfield_k: the rank k of its anti-Hebbian unit (an integer >= 2; static, it is
      a loop count).
    time_scales: tau of the time features tanh(t / tau - 1) (t the inner step; the inputs
      learned_optimization's MLP optimizers get) fed to every unit's network through
      theta["unit_time"] [F, H], initially 0: the rule is then its time-blind self. ()
      (the default): a time-blind rule.

  Raises:
    ValueError: a size below 1, an unknown or empty `terms`, a step-size cap outside
      (0, 1] (lr_max) / [0, 1] (bias_lr_max), an unknown or repeated zoo term, a
      Krotov-Hopfield p below 2 or k below 2, in one line naming the field.
  """

  channels: int = 16  # C: top-down signal channels
  hidden: int = 32  # H: per-unit state channels
  readout_rank: int = 4  # R: low-rank readouts per outer-product term
  terms: tuple[str, ...] = ALL_TERMS
  unit_id_features: bool = True
  cross_unit_mixing: bool = True
  lr_max: float = 0.05  # cap on the learned inner step size (relative to |W|)
  bias_lr_max: float = 0.02
  anti_collapse: float = 0.05  # fixed pull pushing receptive fields apart
  init_lr_logit: float = 0.0  # initial inner step size is lr_max * sigmoid(this)
  competition: bool = False  # per-example softmax share and rank within the layer
  zoo_terms: tuple[str, ...] = ()  # hand-designed increments added at learned step sizes
  krotov_hopfield_p: float = 3.0
  krotov_hopfield_k: int = 7
  time_scales: tuple[float, ...] = ()

  def __post_init__(self) -> None:
    for name in ("channels", "hidden", "readout_rank"):
      if int(getattr(self, name)) < 1:
        raise ValueError(f"rule.{name} must be a positive integer, got {getattr(self, name)}")
    unknown = set(self.terms) - set(ALL_TERMS)
    if unknown or not self.terms:
      raise ValueError(f"rule.terms must be a non-empty subset of {ALL_TERMS}, got {self.terms}")
    if not 0 < self.lr_max <= 1 or not 0 <= self.bias_lr_max <= 1:
      raise ValueError("rule.lr_max must be in (0, 1] and rule.bias_lr_max in [0, 1]")
    if not isinstance(self.competition, bool):
      raise ValueError(f"rule.competition must be true or false, got {self.competition!r}")
    zoo = tuple(self.zoo_terms)
    if set(zoo) - set(term_records.TERMS) or len(set(zoo)) != len(zoo):
      raise ValueError(f"rule.zoo_terms must be distinct names of {term_records.TERMS}, got {zoo}")
    p = self.krotov_hopfield_p
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 2:
      raise ValueError(f"rule.krotov_hopfield_p must be a number >= 2, got {p!r}")
    k = self.krotov_hopfield_k
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
      raise ValueError(f"rule.krotov_hopfield_k must be an integer >= 2, got {k!r}")
    object.__setattr__(
      self, "time_scales", time_features.check_time_scales(self.time_scales, "rule.")
    )

  @property
  def num_terms(self) -> int:
    """Number of update directions mixed by theta["mix"]: R per low-rank term, else 1."""
    return sum(self.readout_rank if t in LOWRANK_TERMS else 1 for t in self.terms)

  @property
  def example_features(self) -> int:
    """Per-example inputs of the unit network: x, z, the C channels of d and, with
    `competition`, the unit's softmax share and rank within its layer."""
    return 2 + self.channels + (2 if self.competition else 0)

  @property
  def active_zoo_terms(self) -> tuple[str, ...]:
    """`zoo_terms` in `zoo.terms.TERMS` order: the order of theta["zoo_lr"], whatever order the
    config lists them in (as `terms` are in `ALL_TERMS` order)."""
    return tuple(t for t in term_records.TERMS if t in self.zoo_terms)

  @property
  def unit_features(self) -> int:
    """Static per-unit inputs: bias, 4 incoming and 4 outgoing weight stats, 4 unit ids."""
    return 1 + 2 * NUM_WEIGHT_STATS + NUM_UNIT_ID  # bias, in/out weight stats, unit id

  def init_theta(self, key: jax.Array) -> dict[str, Any]:
    """Random initial meta-parameters (`init_theta`, the module function, with this config).

    Args:
      key: PRNG key.

    Returns:
      dict of float32 arrays whose shapes depend on C, H, R and the terms only.
    """
    return theta_lib.init_theta(key, self)

  def update(
    self, theta: local_rule.Theta, params: base_model.BaseParams, acts: base_model.Activations
  ) -> base_model.BaseParams:
    """One inner step. Every local rule (`local_rule.LocalRule`: this one,
    `rules.zoo.Oja`) has this method, which is how `inner.unroll` drives learned
    and hand-designed rules alike.

    Args:
      theta: the rule's meta-parameters (`init_theta`).
      params: the base network's parameters phi (W, b, V per layer).
      acts: the forward pass on an unlabeled batch (`base_model.apply`).

    Returns:
      The updated `base_model.BaseParams`, same shapes (see `apply_update`).

    Raises:
      ValueError: the rule has time_scales, which need the step (`update_with_state`).
    """
    if self.time_scales:
      raise ValueError(
        "a learned rule with time_scales needs the inner step: call update_with_state "
        "(the inner loop, apply_rule and the evaluation do)"
      )
    return update_lib.apply_update(theta, self, params, acts)

  def update_with_state(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: None,
    info: local_rule.StepInfo,
  ) -> tuple[base_model.BaseParams, None]:
    """One inner step at inner step `info.step` (`update`, with the time features as the
    unit networks' inputs where time_scales is set).

    Args:
      theta: the rule's meta-parameters (`init_theta`).
      params: the base network's parameters.
      acts: the forward pass on an unlabeled batch.
      state: None (the rule keeps none).
      info: the step (`info.total` is not read).

    Returns:
      (the updated params, None).
    """
    time = time_features.features(info.step, self.time_scales) if self.time_scales else None
    return update_lib.apply_update(theta, self, params, acts, time), state

  def extend_theta(self, theta: local_rule.Theta) -> local_rule.Theta:
    """theta with the time features' weights at 0 where time_scales is set and theta has
    none (`local_rule.ExtendsTheta`: a warm start from a time-blind rule file).

    Args:
      theta: the rule's meta-parameters.

    Returns:
      theta, with "unit_time" [F, H] zeros where needed.
    """
    return theta_lib.extend_theta(theta, self)

  def theta_from(self, zoo_rule: Any, key: jax.Array) -> dict[str, Any]:
    """theta under which this rule takes exactly `zoo_rule`'s step on W (and leaves b and V
    as they are, as the zoo rules do): `init_theta(key)` with the learned increment gated
    off (learned_gate = 0), zoo_lr one-hot at the zoo rule's term with its lr (in units of
    `zoo.terms.SWEEP_LR`), and its parameters (temperature, inverse temperature, delta)
    copied (`zoo.terms.from_rule`). A start for
    meta-training from a hand-designed rule (`config.meta.init_rule = "zoo:NAME"`).

    The term is the zoo rule's kind, except that Sanger's rule with `subspace` is Oja's
    ("oja") and a competitive rule is "competitive" at temperature 0, else
    "soft_competitive", whichever class it is.

    Args:
      zoo_rule: a rule of kind "oja" (`rules.zoo.Oja`), "sanger", "competitive",
        "soft_competitive", "krotov_hopfield", "softhebb" or "bcm" (`metaunsup.rules.zoo`).
      key: PRNG key of the rest of theta (`init_theta`).

    Returns:
      dict of float32 arrays, `init_theta`'s structure.

    Raises:
      ValueError: (one line) the zoo rule's term is not in `zoo_terms` or is no zoo term,
        or a Krotov-Hopfield rule's p, k or precision differ from this config's.
    """
    term, lr, zoo_params = term_records.from_rule(
      zoo_rule, p=self.krotov_hopfield_p, k=self.krotov_hopfield_k
    )
    if term not in self.active_zoo_terms:
      raise ValueError(
        f"rule.theta_from: a {zoo_rule.kind!r} rule is the zoo term {term!r}, which is not "
        f"in this config's zoo_terms {tuple(self.zoo_terms)}"
      )
    theta = self.init_theta(key)
    theta["learned_gate"] = jnp.zeros((), jnp.float32)
    one_hot = jnp.zeros_like(theta["zoo_lr"]).at[self.active_zoo_terms.index(term)]
    theta["zoo_lr"] = one_hot.set(lr / term_records.SWEEP_LR[term])
    if "zoo_params" in theta:
      theta["zoo_params"] = {name: zoo_params[name] for name in theta["zoo_params"]}
    return theta

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "LearnedRule":
    """The config from a dict (e.g. a rule file's or `config.json`'s "rule" section).

    Args:
      d: field name -> value; `terms`, `zoo_terms` and `time_scales` may be lists (JSON).

    Returns:
      The `LearnedRule`.

    Raises:
      ValueError: an unknown field (the message lists the known ones) or a bad value.
    """
    d = dict(d)
    for name in ("terms", "zoo_terms", "time_scales"):
      if name in d:
        d[name] = tuple(d[name])
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
      raise ValueError(f"unknown rule config fields {sorted(unknown)}; known: {sorted(fields)}")
    return cls(**d)

  def summary(self, theta: local_rule.Theta) -> dict[str, Any]:
    """What the rule learned to weigh, for a run's summary.json.

    Args:
      theta: the learned meta-parameters.

    Returns:
      {"rule_mix": {term name: coefficient of theta["mix"], 4 decimals},
      "rule_inner_lr": the learned weight step size (`inner_lrs`)}; with `competition`
      also "rule_competition_temperature"; with `zoo_terms` also "rule_learned_gate",
      "rule_zoo_lr" ({zoo term: its step size, zoo_lr times its unit}) and
      "rule_zoo_params" ({the zoo rule's field, e.g. "softhebb_inverse_temperature":
      value}, logs exponentiated), 4 decimals (4 significant digits for the zoo's).
    """
    out = {
      "rule_mix": dict(zip(rule_terms_names(self), np.asarray(theta["mix"]).round(4).tolist())),
      "rule_inner_lr": float(update_lib.inner_lrs(theta, self)[0]),
    }
    if self.competition:
      out["rule_competition_temperature"] = _sig4(np.exp(theta["competition_log_temperature"]))
    if self.zoo_terms:
      out["rule_learned_gate"] = round(float(theta["learned_gate"]), 4)
      # Rounded as Python floats: float32's 0.1 would print as 0.10000000149011612.
      units = [term_records.SWEEP_LR[t] for t in self.active_zoo_terms]
      lrs = [_sig4(v * u) for v, u in zip(np.asarray(theta["zoo_lr"]), units)]
      out["rule_zoo_lr"] = dict(zip(self.active_zoo_terms, lrs))
      owners = {
        h.key: (t.name, h) for t in term_records.RECORDS.values() for h in t.hyperparameters
      }
      zoo_params = {}
      for name, value in theta.get("zoo_params", {}).items():
        owner, h = owners[name]
        zoo_params[f"{owner}_{h.field}"] = _sig4(np.exp(value) if h.log else value)
      out["rule_zoo_params"] = zoo_params
    return out

  def check_theta(self, theta: local_rule.Theta) -> None:
    """A one-line error when theta was made for another rule config (`check_theta`).

    Args:
      theta: meta-parameters, e.g. read from a rule file.

    Raises:
      ValueError: a missing entry or one of another shape, naming it and both shapes.
    """
    theta_lib.check_theta(theta, self)


def _sig4(x: SupportsFloat) -> float:
  """x as a float with 4 significant digits (a temperature of 0.03 or 112 alike)."""
  return float(f"{float(x):.4g}")
