"""The learned rule's update directions (Metz et al., ICLR 2019, Sec. 4): low-rank outer
products of pre- and post-synaptic readouts of the unit states, and fixed Hebbian,
decorrelation, decay and within-layer terms, mixed by theta["mix"]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import jax
import jax.numpy as jnp

from metaunsup.rules.learned.norms import bn_batch, column_rms

if TYPE_CHECKING:
  from metaunsup import local_rule
  from metaunsup.rules.learned.rule import LearnedRule

LOWRANK_TERMS = ("lowrank", "lowrank_w", "lowrank_gauss")
FIXED_TERMS = ("hebbian", "decorrelation", "decay", "within_layer")
ALL_TERMS = LOWRANK_TERMS + FIXED_TERMS


def weight_update_terms(
  theta: local_rule.Theta,
  cfg: LearnedRule,
  W: jax.Array,
  x_pre: jax.Array,
  x_post: jax.Array,
  h_pre: jax.Array,
  h_post: jax.Array,
) -> jax.Array:
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
    scale: dict[str, Any] = {"lowrank": None, "lowrank_w": wn, "lowrank_gauss": jnp.exp(-(wn**2))}
    for t in LOWRANK_TERMS:
      if t in cfg.terms:
        terms.extend(list(outer if scale[t] is None else outer * scale[t][None]))
  xs_pre, xs_post = bn_batch(x_pre), bn_batch(x_post)
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


def rule_terms_names(cfg: LearnedRule) -> Sequence[str]:
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
