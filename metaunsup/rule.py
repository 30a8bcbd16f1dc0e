"""The neuron-local learned update rule (Metz et al. 2019, Sec. 4): meta-parameters theta,
shared by every unit of every layer, turn one forward pass on an unlabeled batch into new
W, b and V for a base network of any width, depth and activation.

Only theta's shapes depend on the config (channels, hidden size, readout rank, terms); the
base network's sizes never enter, which is what lets one theta drive any architecture.

Two optional extensions (issue 29), both off by default, where the rule is exactly the one
above: `competition` gives each unit its per-example standing within its layer (a softmax
share and a rank) as inputs of the unit network, and `zoo_terms` adds the increments of
hand-designed rules (`metaunsup.zoo`, Oja's rule) at learned step sizes beside a learned
gate on the rule's own increment, so that every zoo rule is a special case of the learned
rule (`RuleConfig.theta_from`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, local_rule
from metaunsup.zoo import terms as zoo_library

EPS = 1e-6
LOWRANK_TERMS = ("lowrank", "lowrank_w", "lowrank_gauss")
FIXED_TERMS = ("hebbian", "decorrelation", "decay", "within_layer")
ALL_TERMS = LOWRANK_TERMS + FIXED_TERMS
NUM_UNIT_ID = 4
NUM_WEIGHT_STATS = 4
# Hand-designed rules whose increments `zoo_terms` can add, in the order of theta["zoo_lr"].
ZOO_TERMS = zoo_library.TERMS
# The learned parameters of the zoo terms that have some (theta["zoo_params"]): name ->
# (term, initial value, the zoo rule's field it stands for, whether it is stored as a log).
# Temperatures are learned as logs so that they stay positive.
ZOO_PARAMS = {
  "soft_competitive_log_temperature": ("soft_competitive", math.log(0.03), "temperature", True),
  "krotov_hopfield_delta": ("krotov_hopfield", 0.4, "delta", False),
  "softhebb_log_inverse_temperature": (
    "softhebb",
    math.log(112.0),
    "inverse_temperature",
    True,
  ),
}


@local_rule.register("learned")
@dataclasses.dataclass(frozen=True)
class RuleConfig(local_rule.LocalRuleBase):
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
    zoo_terms: hand-designed rules (a subset of `ZOO_TERMS`) whose increments are added to
      the learned one, each at a learned step size theta["zoo_lr"][t] (initially 0; in units
      of the term's zoo-sweep step size, `zoo.terms.SWEEP_LR`, which differ 400x), the
      learned increment itself scaled by theta["learned_gate"] (initially 1); see
      `_apply_update_with_zoo`. () (the default): the rule without them.
    krotov_hopfield_p: the Lebesgue norm p of the "krotov_hopfield" term (>= 2; static,
      it shapes the computation).
    krotov_hopfield_k: the rank k of its anti-Hebbian unit (an integer >= 2; static, it is
      a loop count).

  Raises:
    ValueError: a size below 1, an unknown or empty `terms`, a step-size cap outside
      (0, 1] (lr_max) / [0, 1] (bias_lr_max), an unknown or repeated zoo term, a
      Krotov-Hopfield p below 2 or k below 2, in one line naming the field.
  """

  channels: int = 16  # C: top-down signal channels
  hidden: int = 32  # H: per-unit state channels
  readout_rank: int = 4  # R: low-rank readouts per outer-product term
  terms: tuple = ALL_TERMS
  unit_id_features: bool = True
  cross_unit_mixing: bool = True
  lr_max: float = 0.05  # cap on the learned inner step size (relative to |W|)
  bias_lr_max: float = 0.02
  anti_collapse: float = 0.05  # fixed pull pushing receptive fields apart
  init_lr_logit: float = 0.0  # initial inner step size is lr_max * sigmoid(this)
  competition: bool = False  # per-example softmax share and rank within the layer
  zoo_terms: tuple = ()  # hand-designed increments added at learned step sizes
  krotov_hopfield_p: float = 3.0
  krotov_hopfield_k: int = 7

  def __post_init__(self):
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
    if set(zoo) - set(ZOO_TERMS) or len(set(zoo)) != len(zoo):
      raise ValueError(f"rule.zoo_terms must be distinct names of {ZOO_TERMS}, got {zoo}")
    p = self.krotov_hopfield_p
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 2:
      raise ValueError(f"rule.krotov_hopfield_p must be a number >= 2, got {p!r}")
    k = self.krotov_hopfield_k
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
      raise ValueError(f"rule.krotov_hopfield_k must be an integer >= 2, got {k!r}")

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
  def active_zoo_terms(self) -> tuple:
    """`zoo_terms` in `ZOO_TERMS` order: the order of theta["zoo_lr"], whatever order the
    config lists them in (as `terms` are in `ALL_TERMS` order)."""
    return tuple(t for t in ZOO_TERMS if t in self.zoo_terms)

  @property
  def unit_features(self) -> int:
    """Static per-unit inputs: bias, 4 incoming and 4 outgoing weight stats, 4 unit ids."""
    return 1 + 2 * NUM_WEIGHT_STATS + NUM_UNIT_ID  # bias, in/out weight stats, unit id

  def init_theta(self, key: jax.Array) -> dict:
    """Random initial meta-parameters (`init_theta`, the module function, with this config).

    Args:
      key: PRNG key.

    Returns:
      dict of float32 arrays whose shapes depend on C, H, R and the terms only.
    """
    return init_theta(key, self)

  def update(self, theta, params, acts):
    """One inner step. Every local rule (`local_rule.LocalRule`: this one,
    `baselines.oja.OjaConfig`) has this method, which is how `inner.unroll` drives learned
    and hand-designed rules alike.

    Args:
      theta: the rule's meta-parameters (`init_theta`).
      params: the base network's parameters phi (W, b, V per layer).
      acts: the forward pass on an unlabeled batch (`base_model.apply`).

    Returns:
      The updated `base_model.BaseParams`, same shapes (see `apply_update`).
    """
    return apply_update(theta, self, params, acts)

  def theta_from(self, zoo_rule, key: jax.Array) -> dict:
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
      zoo_rule: a rule of kind "oja" (`baselines.oja.OjaConfig`), "sanger", "competitive",
        "soft_competitive", "krotov_hopfield", "softhebb" or "bcm" (`metaunsup.zoo`).
      key: PRNG key of the rest of theta (`init_theta`).

    Returns:
      dict of float32 arrays, `init_theta`'s structure.

    Raises:
      ValueError: (one line) the zoo rule's term is not in `zoo_terms` or is no zoo term,
        or a Krotov-Hopfield rule's p, k or precision differ from this config's.
    """
    term, lr, zoo_params = zoo_library.from_rule(
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
    theta["zoo_lr"] = one_hot.set(lr / zoo_library.SWEEP_LR[term])
    if "zoo_params" in theta:
      theta["zoo_params"] = {name: zoo_params[name] for name in theta["zoo_params"]}
    return theta

  @classmethod
  def from_dict(cls, d) -> "RuleConfig":
    """The config from a dict (e.g. a rule file's or `config.json`'s "rule" section).

    Args:
      d: field name -> value; `terms` and `zoo_terms` may be lists (JSON).

    Returns:
      The `RuleConfig`.

    Raises:
      ValueError: an unknown field (the message lists the known ones) or a bad value.
    """
    d = dict(d)
    for name in ("terms", "zoo_terms"):
      if name in d:
        d[name] = tuple(d[name])
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
      raise ValueError(f"unknown rule config fields {sorted(unknown)}; known: {sorted(fields)}")
    return cls(**d)

  def summary(self, theta) -> dict:
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
      "rule_inner_lr": float(inner_lrs(theta, self)[0]),
    }
    if self.competition:
      out["rule_competition_temperature"] = _sig4(np.exp(theta["competition_log_temperature"]))
    if self.zoo_terms:
      out["rule_learned_gate"] = round(float(theta["learned_gate"]), 4)
      # Rounded as Python floats: float32's 0.1 would print as 0.10000000149011612.
      units = [zoo_library.SWEEP_LR[t] for t in self.active_zoo_terms]
      lrs = [_sig4(v * u) for v, u in zip(np.asarray(theta["zoo_lr"]), units)]
      out["rule_zoo_lr"] = dict(zip(self.active_zoo_terms, lrs))
      zoo_params = {}
      for name, value in theta.get("zoo_params", {}).items():
        owner, _, field, is_log = ZOO_PARAMS[name]
        zoo_params[f"{owner}_{field}"] = _sig4(np.exp(value) if is_log else value)
      out["rule_zoo_params"] = zoo_params
    return out

  def check_theta(self, theta) -> None:
    """A one-line error when theta was made for another rule config (`check_theta`).

    Args:
      theta: meta-parameters, e.g. read from a rule file.

    Raises:
      ValueError: a missing entry or one of another shape, naming it and both shapes.
    """
    check_theta(theta, self)


def _sig4(x) -> float:
  """x as a float with 4 significant digits (a temperature of 0.03 or 112 alike)."""
  return float(f"{float(x):.4g}")


def init_theta(key: jax.Array, cfg: RuleConfig) -> dict:
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
    scalars at the zoo rules' defaults (`ZOO_PARAMS`). These are not drawn from `key`: the
    random entries are those of the config without them.
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
    params = {
      name: jnp.full((), init, jnp.float32)
      for name, (owner, init, _, _) in ZOO_PARAMS.items()
      if owner in cfg.zoo_terms
    }
    if params:
      theta["zoo_params"] = params
  return theta


# ---- small pure pieces -------------------------------------------------------------------


@jax.custom_vjp
def _bn_batch(h):
  """Batch norm over the example axis (axis 0), per unit and channel, no learned scale."""
  return _bn_batch_fwd(h)[0]


def _bn_batch_fwd(h):
  centred = h - base_model.leading_mean(h)
  inv_std = jax.lax.rsqrt(base_model.leading_mean(centred**2) + 1e-3)
  y = centred * inv_std
  return y, (y, inv_std)


def _bn_batch_bwd(res, g):
  # The textbook batch-norm gradient, written with `leading_mean`: autodiff's own version
  # sums over the batch axis with XLA's slow leading-axis reductions (4 ms against 71 ms
  # for [64, 784, 32] on the 2-core CPU).
  y, inv_std = res
  mean = base_model.leading_mean
  return (inv_std * (g - mean(g) - y * mean(g * y)),)


_bn_batch.defvjp(_bn_batch_fwd, _bn_batch_bwd)


@jax.custom_vjp
def _centred_norm_relu(pre):
  """relu of pre centred and rms-normalised over its last axis (channels)."""
  return _centred_norm_relu_fwd(pre)[0]


def _centred_norm_relu_fwd(pre):
  centred = pre - jnp.mean(pre, -1, keepdims=True)
  inv_rms = jax.lax.rsqrt(jnp.mean(centred**2, -1, keepdims=True) + EPS)
  normed = centred * inv_rms
  return jax.nn.relu(normed), (normed, inv_rms)


def _centred_norm_relu_bwd(res, g):
  # Keeps one [B, n, H] tensor for the backward pass where autodiff keeps two (the centred
  # input and the relu's input); the stored intermediates bound the meta-gradient's time
  # on a CPU (README, 'Meta-gradient cost'). The rms norm's gradient with eps included is
  # inv_rms (g - y mean(g y)), y the normalised value; centring subtracts the mean.
  normed, inv_rms = res
  g = jnp.where(normed > 0, g, 0.0)
  u = inv_rms * (g - normed * jnp.mean(g * normed, -1, keepdims=True))
  return (u - jnp.mean(u, -1, keepdims=True),)


_centred_norm_relu.defvjp(_centred_norm_relu_fwd, _centred_norm_relu_bwd)


def _rms_normalize(x, axis):
  return x * jax.lax.rsqrt(jnp.mean(x**2, axis=axis, keepdims=True) + EPS)


def _weight_stats(w, axis):
  """mean |w|, rms, mean, std of each unit's weights along `axis`: [units, 4]."""
  if axis == 0:  # reduce along the minor axis: XLA's CPU backend is slow on a leading one
    w, axis = w.T, 1
  return jnp.stack(
    [
      jnp.mean(jnp.abs(w), axis),
      jnp.sqrt(jnp.mean(w**2, axis)),
      jnp.mean(w, axis),
      jnp.std(w, axis),
    ],
    axis=-1,
  )


def _unit_id(n: int, enabled: bool):
  pos = 2 * jnp.pi * jnp.arange(n) / n
  feats = jnp.stack([jnp.sin(pos), jnp.cos(pos), jnp.sin(2 * pos), jnp.cos(2 * pos)], -1)
  return feats if enabled else jnp.zeros_like(feats)


def column_rms(w):
  """Root mean square of each column (receptive field) of w.

  Args:
    w: [in, out].

  Returns:
    [1, out], never zero (EPS is added inside the square root).
  """
  return jnp.sqrt(base_model.leading_mean(w**2)[None] + EPS)


# ---- the per-unit networks ---------------------------------------------------------------


def competition_features(theta, z):
  """Each unit's per-example standing within its layer (`RuleConfig.competition`).

  z is batch-normalised per unit first, so that one temperature suits every layer (the
  input layer's z is the raw input) and every input scale; the bias, which the forward
  pass adds after its batch norm, is not part of the standing (the unit network reads it
  as a static feature).

  Args:
    theta: the rule's meta-parameters (its "competition_log_temperature").
    z: [B, n], the layer's pre-activations.

  Returns:
    (share, rank), each [B, n]: share is n times the softmax over units of the normalised
    z at temperature exp(theta["competition_log_temperature"]) (mean 1 over units at any
    width, where the softmax alone would shrink as 1 / n); rank is the unit's place among
    the layer's units in that example, 0 for the smallest z and 1 for the largest, units
    of equal z sharing their mean place (0 for every unit of a one-unit layer), with no
    gradient.
  """
  n = z.shape[1]
  zn = _bn_batch(z)
  share = n * jax.nn.softmax(zn * jnp.exp(-theta["competition_log_temperature"]), axis=1)
  rank = _midrank(jax.lax.stop_gradient(zn)) / max(n - 1, 1)
  return share, rank


# Above this many pairs (B n^2), `_midrank` sorts instead of comparing every pair.
_PAIRWISE_RANK_MAX = 64 * 320 * 320


def _midrank(z):
  """Each entry's rank within its row, 0 .. n - 1, ties at their mean rank: #smaller +
  (#equal - 1) / 2. Mean ranks, not argsort's order, keep the rule equivariant to
  permutations of the units where z ties (the input layer's constant pixels, all 0 after
  the batch norm); argsort would break ties by unit index.

  Args:
    z: [B, n].

  Returns:
    [B, n], float32 (whole or half numbers).
  """
  B, n = z.shape
  if B * n * n <= _PAIRWISE_RANK_MAX:
    # Counting every pair in one fused reduction: 0.4 ms at B = 64, n = 196 on the 2-core
    # CPU, against 1.5 ms for the sort below and 2.8 ms for argsort of argsort; from about
    # n = 384 (B = 64) it slows down tenfold (11 ms, the sort 3.3 ms).
    zi, zj = z[:, :, None], z[:, None, :]
    twice = jnp.sum(jnp.where(zj < zi, 2.0, jnp.where(zj == zi, 1.0, 0.0)), axis=2)
    return 0.5 * (twice - 1.0)

  def row(sorted_row, values):
    left = jnp.searchsorted(sorted_row, values, side="left")  # #smaller
    right = jnp.searchsorted(sorted_row, values, side="right")  # #smaller or equal
    return 0.5 * (left + right - 1).astype(jnp.float32)

  return jax.vmap(row)(jnp.sort(z, axis=1), z)


def top_signal(theta, x_top, z_top):
  """The top-down signal d_L [B, units, C] from the top layer's activations, per unit.

  Args:
    theta: the rule's meta-parameters.
    x_top: [B, units], post-activations of the top layer.
    z_top: [B, units], its pre-activations.

  Returns:
    [B, units, C], rms-normalised over channels.
  """
  feats = jnp.stack([x_top, z_top], axis=-1)
  h = jax.nn.relu(_bn_batch(feats @ theta["top_in"]))
  return _rms_normalize(h @ theta["top_out"], axis=-1)


def unit_network(theta, cfg: RuleConfig, x, z, d, static):
  """Per-unit state h [B, n, H] from neuron-local inputs only.

  Statistics over the batch axis are allowed (same unit, other examples); across units
  only the optional neighbour mixing, a length-3 convolution over the unit axis.

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.
    x: [B, n], the layer's post-activations.
    z: [B, n], its pre-activations.
    d: [B, n, C], the top-down signal reaching the layer.
    static: [n, unit_features], the bias, weight statistics and unit-id features.

  Returns:
    h [B, n, H]: relu of the pre-state centred and rms-normalised over channels.
  """
  w_example = theta["unit_example"]  # rows: x, z, then d's channels (then share, rank)
  if cfg.competition:
    C = d.shape[-1]
    share, rank = competition_features(theta, z)
    example = (
      x[..., None] * w_example[0]
      + z[..., None] * w_example[1]
      + d @ w_example[2 : 2 + C]
      + share[..., None] * w_example[2 + C]
      + rank[..., None] * w_example[3 + C]
    )
  else:
    # Three products, not one on a concatenation: the [B, n, 2 + C] copy costs more than
    # them.
    example = x[..., None] * w_example[0] + z[..., None] * w_example[1] + d @ w_example[2:]
  # The barrier keeps `static` a tensor of its own: without it XLA pushes this K = 13
  # product through the concatenation that built `static`, as multiply-adds, and fuses
  # them, sines and cosines of the unit ids included, into every [B, n, H] consumer; the
  # inner step took 154 ms instead of 64 at widths 256-256-256 (`make bench`, 'Utilisation').
  static = jax.lax.optimization_barrier(static)
  h1 = jax.nn.relu(_bn_batch(example) + static @ theta["unit_static"])
  pooled = base_model.leading_mean(h1)  # [n, H]
  pre = h1 @ theta["unit_self"] + (pooled @ theta["unit_pool"])[None]
  if cfg.cross_unit_mixing:
    neighbours = 0.5 * (jnp.roll(pooled, 1, axis=0) + jnp.roll(pooled, -1, axis=0))
    pre = pre + (neighbours @ theta["unit_neighbours"])[None]
  # Channel norm, not batch norm, here: the pooled terms are constant over the batch and a
  # batch norm would erase them.
  return _centred_norm_relu(pre)


def _static_features(cfg, bias, w_in, w_out, n):
  zeros = jnp.zeros((n, NUM_WEIGHT_STATS))
  stats_in = zeros if w_in is None else _weight_stats(w_in / column_rms(w_in), axis=0)
  stats_out = zeros if w_out is None else _weight_stats(w_out / column_rms(w_out), axis=1)
  return jnp.concatenate(
    [bias[:, None], stats_in, stats_out, _unit_id(n, cfg.unit_id_features)], axis=-1
  )


def unit_states(
  theta, cfg: RuleConfig, params: base_model.BaseParams, acts: base_model.Activations
) -> list:
  """Run the top-down pass; returns h_l for every layer, input layer included.

  Signals go down as d_{l-1} = rmsnorm((d_l * sigmoid(z_l) + h_l W_delta) V_l^T).

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.
    params: the base network (L weight layers).
    acts: its forward pass, L + 1 entries of xs and zs ([B, n_l]).

  Returns:
    list of L + 1 arrays h_l [B, n_l, H], index 0 the input layer.
  """
  L = len(params.W)
  d = top_signal(theta, acts.xs[L], acts.zs[L])
  states = [None] * (L + 1)
  for l in range(L, -1, -1):
    n = acts.xs[l].shape[1]
    bias = params.b[l - 1] if l > 0 else jnp.zeros((n,))
    w_in = params.W[l - 1] if l > 0 else None
    w_out = params.W[l] if l < L else None
    static = _static_features(cfg, bias, w_in, w_out, n)
    h = unit_network(theta, cfg, acts.xs[l], acts.zs[l], d, static)
    states[l] = h
    if l > 0:
      delta = d * jax.nn.sigmoid(acts.zs[l])[..., None] + h @ theta["delta_out"]
      d = _rms_normalize(jnp.einsum("bjc,ij->bic", delta, params.V[l - 1]), axis=-1)
  return states


# ---- weight and bias updates -------------------------------------------------------------


def weight_update_terms(theta, cfg: RuleConfig, W, x_pre, x_post, h_pre, h_post):
  """Every candidate update direction for one weight layer, each normalised per
  receptive field (column rms).

  The terms, in `ALL_TERMS` order as far as `cfg.terms` has them: batch-averaged
  low-rank outer products of pre-/post-synaptic readouts (plain, times the normalised
  weight, times exp(-w^2)), Hebbian, decorrelation, decay and a within-layer term.

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.
    W: [in, out], the layer's weights.
    x_pre: [B, in], the layer's input activations.
    x_post: [B, out], its output activations.
    h_pre: [B, in, H], the unit states of the layer below.
    h_post: [B, out, H], the unit states of the layer above.

  Returns:
    [num_terms, in, out].
  """
  B = x_pre.shape[0]
  wn = W / column_rms(W)
  terms = []
  if any(t in cfg.terms for t in LOWRANK_TERMS):
    bot = h_pre @ theta["readout_bot"]  # [B, in, R]
    top = h_post @ theta["readout_top"]  # [B, out, R]
    outer = jnp.einsum("bir,bjr->rij", bot, top) / B
    scale = {"lowrank": None, "lowrank_w": wn, "lowrank_gauss": jnp.exp(-(wn**2))}
    for t in LOWRANK_TERMS:
      if t in cfg.terms:
        terms.extend(list(outer if scale[t] is None else outer * scale[t][None]))
  xs_pre, xs_post = _bn_batch(x_pre), _bn_batch(x_post)
  if "hebbian" in cfg.terms:
    terms.append(xs_pre.T @ xs_post / B)
  if "decorrelation" in cfg.terms:
    terms.append(wn @ (xs_post.T @ xs_post / B))
  if "decay" in cfg.terms:
    terms.append(wn**2 * jnp.sign(wn))
  if "within_layer" in cfg.terms:
    a, b = h_post @ theta["within_a"], h_post @ theta["within_b"]
    terms.append(wn @ (jnp.einsum("bjr,bkr->jk", a, b) / B))
  return jnp.stack([t / column_rms(t) for t in terms])


def stabilize(dW, W, anti_collapse: float):
  """The authors' stabilisers: unit-rms direction per receptive field, a pull keeping
  receptive fields apart, and no component that would shrink a weight vector (the caller
  applies W - lr * dW).

  Args:
    dW: [in, out], the mixed update direction.
    W: [in, out], the current weights.
    anti_collapse: weight of the pull apart (`RuleConfig.anti_collapse`).

  Returns:
    [in, out], the stabilised direction.
  """
  wn = W / column_rms(W)
  dW = dW / column_rms(dW)
  n_in = W.shape[0]
  overlap = wn.T @ wn / n_in - jnp.eye(W.shape[1])
  dW = dW + anti_collapse * wn @ overlap
  shrink = jax.nn.relu(base_model.leading_mean(dW * wn)[None])
  return dW - shrink * wn


def bias_update(theta, h):
  """The bias update direction of one layer, recentred over units, rms-normalised.

  Args:
    theta: the rule's meta-parameters.
    h: [B, n, H], the layer's unit states.

  Returns:
    [n], zero mean and unit rms over units.
  """
  db = base_model.leading_mean(h @ theta["bias_out"])
  db = db - jnp.mean(db)  # recentred: all biases cannot drift together
  return db * jax.lax.rsqrt(jnp.mean(db**2) + EPS)


def inner_lrs(theta, cfg: RuleConfig):
  """The learned inner step sizes (weights, biases), each capped by the config.

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.

  Returns:
    (lr, bias_lr), scalars: lr_max * sigmoid(theta["lr_logit"]) and
    bias_lr_max * sigmoid(theta["bias_lr_logit"]), relative to each receptive field's rms.
  """
  return (
    cfg.lr_max * jax.nn.sigmoid(theta["lr_logit"]),
    cfg.bias_lr_max * jax.nn.sigmoid(theta["bias_lr_logit"]),
  )


# The stabilised update never shrinks a weight vector, so norms grow every step (by up to
# 1 + lr): float32 overflowed after about 2500 inner steps. Nothing reads those norms -- the
# forward pass batch-normalises x W per unit, the rule sees W only through W / column_rms(W)
# and V only through rms-normalised signals -- so resetting W's column rms and V's overall
# rms to 1 after each step leaves every activation and update as it was.


def _fixed_scale_V(V):
  return V * jax.lax.rsqrt(jnp.mean(V**2) + EPS)


def apply_update(
  theta, cfg: RuleConfig, params: base_model.BaseParams, acts: base_model.Activations
) -> base_model.BaseParams:
  """One inner step: new phi from the rule (Metz et al., ICLR 2019, Sec. 4). V gets
  W's update (the authors' default); W's column rms and V's rms are then reset to 1,
  which changes no activation or update (see the note above). With `cfg.zoo_terms`, the
  zoo rules' increments are added and the rule's own gated (`_apply_update_with_zoo`).

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.
    params: the base network, L weight layers W_l / V_l [n_l, n_{l+1}], b_l [n_{l+1}].
    acts: its forward pass on an unlabeled batch, L + 1 entries [B, n_l].

  Returns:
    The updated `base_model.BaseParams`, same shapes.

  Raises:
    AssertionError: (chex) acts does not have one entry more than params has layers.
  """
  chex.assert_equal(len(acts.xs), len(params.W) + 1)
  if cfg.zoo_terms:
    return _apply_update_with_zoo(theta, cfg, params, acts)
  states = unit_states(theta, cfg, params, acts)
  lr, bias_lr = inner_lrs(theta, cfg)
  new_W, new_b, new_V = [], [], []
  for l, (W, b, V) in enumerate(zip(params.W, params.b, params.V)):
    terms = weight_update_terms(theta, cfg, W, acts.xs[l], acts.xs[l + 1], states[l], states[l + 1])
    dW = stabilize(jnp.tensordot(theta["mix"], terms, axes=1), W, cfg.anti_collapse)
    new_W.append(base_model.unit_columns(W - lr * column_rms(W) * dW))
    new_V.append(_fixed_scale_V(V - lr * column_rms(V) * dW))
    new_b.append(b - bias_lr * bias_update(theta, states[l + 1]))
  return params.replace(W=new_W, b=new_b, V=new_V)


def zoo_increment(theta, cfg: RuleConfig, term: str, W, x, lr):
  """One zoo rule's increment on one layer, at a learned step size, with its learned
  parameters from theta["zoo_params"] and its static ones from the config.

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config (Krotov-Hopfield's p and k).
    term: a name of `ZOO_TERMS`.
    W: [in, out], the layer's weights.
    x: [B, in], the layer's input (acts.xs[l], what the zoo rules read).
    lr: scalar, the term's step size (theta["zoo_lr"][t] times the term's unit,
      `zoo.terms.SWEEP_LR`).

  Returns:
    [in, out]: the zoo rule's own increment (`NAME_increment`), so W + this is its step.
  """
  params = {**zoo_library.init_params(), **theta.get("zoo_params", {})}
  return zoo_library.increment(
    term, W, x, lr, params, p=cfg.krotov_hopfield_p, k=cfg.krotov_hopfield_k
  )


def _apply_update_with_zoo(theta, cfg, params, acts):
  """`apply_update` with `zoo_terms`: with g = theta["learned_gate"] and each layer's input
  x_l,
      W' = W + g (unit_columns(W - lr column_rms(W) dW) - W) + sum_t zoo_t(W, x_l, zoo_lr_t),
      V' = V + g (V's update without zoo terms - V),   b' = b - g bias_lr db.
  The column and V rescalings stay inside the learned increment, so that with g = 0 and one
  zoo term W' is exactly that zoo rule's step (the zoo rules are not scale-free: k-means
  centroids live in input space, Krotov-Hopfield's currents use |w|^(p-1)) and b and V stay
  as they are, as the zoo rules leave them. With g = 1 and every zoo_lr 0 it is the update
  without zoo terms, up to rounding. W's column rms is then reset only in proportion to g
  (the learned increment pulls it toward 1); each zoo increment acts on W as it is.

  Args:
    theta: the rule's meta-parameters, with "learned_gate", "zoo_lr" [len(zoo_terms)] and
      (for terms that have parameters) "zoo_params".
    cfg: the rule config, `zoo_terms` non-empty.
    params: the base network, L weight layers W_l / V_l [n_l, n_{l+1}], b_l [n_{l+1}].
    acts: its forward pass on an unlabeled batch, L + 1 entries [B, n_l].

  Returns:
    The updated `base_model.BaseParams`, same shapes.
  """
  states = unit_states(theta, cfg, params, acts)
  lr, bias_lr = inner_lrs(theta, cfg)
  gate = theta["learned_gate"]
  new_W, new_b, new_V = [], [], []
  for l, (W, b, V) in enumerate(zip(params.W, params.b, params.V)):
    terms = weight_update_terms(theta, cfg, W, acts.xs[l], acts.xs[l + 1], states[l], states[l + 1])
    dW = stabilize(jnp.tensordot(theta["mix"], terms, axes=1), W, cfg.anti_collapse)
    learned = base_model.unit_columns(W - lr * column_rms(W) * dW) - W
    zoo = sum(
      zoo_increment(theta, cfg, t, W, acts.xs[l], theta["zoo_lr"][i] * zoo_library.SWEEP_LR[t])
      for i, t in enumerate(cfg.active_zoo_terms)
    )
    new_W.append(W + gate * learned + zoo)
    new_V.append(V + gate * (_fixed_scale_V(V - lr * column_rms(V) * dW) - V))
    new_b.append(b - gate * bias_lr * bias_update(theta, states[l + 1]))
  return params.replace(W=new_W, b=new_b, V=new_V)


def check_theta(theta: dict, cfg: RuleConfig) -> None:
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


def param_count(theta: dict) -> int:
  """Number of scalar meta-parameters in theta.

  Args:
    theta: the rule's meta-parameters (`init_theta`), a pytree of arrays.

  Returns:
    The total number of entries over all leaves.
  """
  return int(sum(x.size for x in jax.tree_util.tree_leaves(theta)))


def rule_terms_names(cfg: RuleConfig) -> Sequence[str]:
  """Names of the entries of theta["mix"], e.g. "lowrank_0" ... "lowrank_{R-1}".

  Args:
    cfg: the rule config.

  Returns:
    list of `cfg.num_terms` strings, in the order of `weight_update_terms`.
  """
  names = []
  for t in [t for t in ALL_TERMS if t in cfg.terms]:
    names.extend([f"{t}_{r}" for r in range(cfg.readout_rank)] if t in LOWRANK_TERMS else [t])
  return names
