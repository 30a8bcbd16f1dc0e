"""The per-unit networks of the learned rule (Metz et al., ICLR 2019, Sec. 4): the top-down
signal from the top layer, each unit's state from neuron-local inputs, and the top-down pass
that gives every layer's states."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from metaunsup import base_model
from metaunsup.rules.learned.competition import competition_features
from metaunsup.rules.learned.norms import bn_batch, centred_norm_relu, column_rms, rms_normalize

if TYPE_CHECKING:
  from metaunsup import local_rule
  from metaunsup.rules.learned.rule import LearnedRule

NUM_UNIT_ID = 4
NUM_WEIGHT_STATS = 4


def _weight_stats(w: jax.Array, axis: int) -> jax.Array:
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


def _unit_id(n: int, enabled: bool) -> jax.Array:
  pos = 2 * jnp.pi * jnp.arange(n) / n
  feats = jnp.stack([jnp.sin(pos), jnp.cos(pos), jnp.sin(2 * pos), jnp.cos(2 * pos)], -1)
  return feats if enabled else jnp.zeros_like(feats)


def top_signal(theta: local_rule.Theta, x_top: jax.Array, z_top: jax.Array) -> jax.Array:
  """The top-down signal d_L [B, units, C] from the top layer's activations, per unit.

  Args:
    theta: the rule's meta-parameters.
    x_top: [B, units], post-activations of the top layer.
    z_top: [B, units], its pre-activations.

  Returns:
    [B, units, C], rms-normalised over channels.
  """
  feats = jnp.stack([x_top, z_top], axis=-1)
  h = jax.nn.relu(bn_batch(feats @ theta["top_in"]))
  return rms_normalize(h @ theta["top_out"], axis=-1)


def unit_network(
  theta: local_rule.Theta,
  cfg: LearnedRule,
  x: jax.Array,
  z: jax.Array,
  d: jax.Array,
  static: jax.Array,
  time: jax.Array | None = None,
) -> jax.Array:
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
    time: [F] the time features (`rules.time_features.features`), the same for every unit and
      example; None: a time-blind rule.

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
  unit_in = bn_batch(example) + static @ theta["unit_static"]
  if time is not None:
    unit_in = unit_in + time @ theta["unit_time"]
  h1 = jax.nn.relu(unit_in)
  pooled = base_model.leading_mean(h1)  # [n, H]
  pre = h1 @ theta["unit_self"] + (pooled @ theta["unit_pool"])[None]
  if cfg.cross_unit_mixing:
    neighbours = 0.5 * (jnp.roll(pooled, 1, axis=0) + jnp.roll(pooled, -1, axis=0))
    pre = pre + (neighbours @ theta["unit_neighbours"])[None]
  # Channel norm, not batch norm, here: the pooled terms are constant over the batch and a
  # batch norm would erase them.
  return centred_norm_relu(pre)


def static_features(
  cfg: LearnedRule, bias: jax.Array, w_in: jax.Array | None, w_out: jax.Array | None, n: int
) -> jax.Array:
  zeros = jnp.zeros((n, NUM_WEIGHT_STATS))
  stats_in = zeros if w_in is None else _weight_stats(w_in / column_rms(w_in), axis=0)
  stats_out = zeros if w_out is None else _weight_stats(w_out / column_rms(w_out), axis=1)
  return jnp.concatenate(
    [bias[:, None], stats_in, stats_out, _unit_id(n, cfg.unit_id_features)], axis=-1
  )


def unit_states(
  theta: local_rule.Theta,
  cfg: LearnedRule,
  params: base_model.BaseParams,
  acts: base_model.Activations,
  time: jax.Array | None = None,
) -> list[jax.Array]:
  """Run the top-down pass; returns h_l for every layer, input layer included.

  Signals go down as d_{l-1} = rmsnorm((d_l * sigmoid(z_l) + h_l W_delta) V_l^T).

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config.
    params: the base network (L weight layers).
    acts: its forward pass, L + 1 entries of xs and zs ([B, n_l]).
    time: [F] the time features, or None (`unit_network`).

  Returns:
    list of L + 1 arrays h_l [B, n_l, H], index 0 the input layer.
  """
  L = len(params.W)
  d = top_signal(theta, acts.xs[L], acts.zs[L])
  states: list[Any] = [None] * (L + 1)
  for l in range(L, -1, -1):
    n = acts.xs[l].shape[1]
    bias = params.b[l - 1] if l > 0 else jnp.zeros((n,))
    w_in = params.W[l - 1] if l > 0 else None
    w_out = params.W[l] if l < L else None
    static = static_features(cfg, bias, w_in, w_out, n)
    h = unit_network(theta, cfg, acts.xs[l], acts.zs[l], d, static, time)
    states[l] = h
    if l > 0:
      delta = d * jax.nn.sigmoid(acts.zs[l])[..., None] + h @ theta["delta_out"]
      d = rms_normalize(jnp.einsum("bjc,ij->bic", delta, params.V[l - 1]), axis=-1)
  return states
