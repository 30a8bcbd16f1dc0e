"""The learned rule's step (Metz et al., ICLR 2019, Sec. 4): the mixed, stabilised weight
update at the learned inner step size, V's and the biases', and with `zoo_terms` the zoo
rules' increments beside a learned gate on the rule's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import chex
import jax
import jax.numpy as jnp

from metaunsup import base_model
from metaunsup.rules.learned.norms import EPS, column_rms
from metaunsup.rules.learned.terms import weight_update_terms
from metaunsup.rules.learned.unit_network import unit_states
from metaunsup.rules.zoo import terms as term_records

if TYPE_CHECKING:
  from metaunsup import local_rule
  from metaunsup.rules.learned.rule import LearnedRule


def stabilize(dW: jax.Array, W: jax.Array, anti_collapse: float) -> jax.Array:
  """The authors' stabilisers: unit-rms direction per receptive field, a pull keeping
  receptive fields apart, and no component that would shrink a weight vector (the caller
  applies W - lr * dW).

  Args:
    dW: [in, out], the mixed update direction.
    W: [in, out], the current weights.
    anti_collapse: weight of the pull apart (`LearnedRule.anti_collapse`).

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


def bias_update(theta: local_rule.Theta, h: jax.Array) -> jax.Array:
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


def inner_lrs(theta: local_rule.Theta, cfg: LearnedRule) -> tuple[jax.Array, jax.Array]:
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


def _fixed_scale_V(V: jax.Array) -> jax.Array:
  return V * jax.lax.rsqrt(jnp.mean(V**2) + EPS)


def apply_update(
  theta: local_rule.Theta,
  cfg: LearnedRule,
  params: base_model.BaseParams,
  acts: base_model.Activations,
  time: jax.Array | None = None,
) -> base_model.BaseParams:
  """One inner step: new phi from the rule (Metz et al., ICLR 2019, Sec. 4). V gets
  W's update (the authors' default); W's column rms and V's rms are then reset to 1,
  which changes no activation or update (see the note above).

  With `cfg.zoo_terms` and g = theta["learned_gate"], each layer's input x_l:
      W' = W + g (unit_columns(W - lr column_rms(W) dW) - W) + sum_t zoo_t(W, x_l, zoo_lr_t),
      V' = V + g (V's update without zoo terms - V),   b' = b - g bias_lr db.
  The column and V rescalings stay inside the learned increment, so that with g = 0 and one
  zoo term W' is exactly that zoo rule's step (the zoo rules are not scale-free: k-means
  centroids live in input space, Krotov-Hopfield's currents use |w|^(p-1)) and b and V stay
  as they are, as the zoo rules leave them. With g = 1 and every zoo_lr 0 it is the update
  without zoo terms, up to rounding. W's column rms is then reset only in proportion to g
  (the learned increment pulls it toward 1); each zoo increment acts on W as it is.

  Args:
    theta: the rule's meta-parameters (with `zoo_terms`: "learned_gate", "zoo_lr"
      [len(zoo_terms)] and, for terms that have parameters, "zoo_params").
    cfg: the rule config.
    params: the base network, L weight layers W_l / V_l [n_l, n_{l+1}], b_l [n_{l+1}].
    acts: its forward pass on an unlabeled batch, L + 1 entries [B, n_l].
    time: [F] the time features of the step (`rules.time_features.features`), inputs of every
      unit's network; None: a time-blind rule.

  Returns:
    The updated `base_model.BaseParams`, same shapes.

  Raises:
    AssertionError: (chex) acts does not have one entry more than params has layers.
  """
  chex.assert_equal(len(acts.xs), len(params.W) + 1)
  states = unit_states(theta, cfg, params, acts, time)
  lr, bias_lr = inner_lrs(theta, cfg)
  new_W, new_b, new_V = [], [], []
  for l, (W, b, V) in enumerate(zip(params.W, params.b, params.V)):
    terms = weight_update_terms(theta, cfg, W, acts.xs[l], acts.xs[l + 1], states[l], states[l + 1])
    dW = stabilize(jnp.tensordot(theta["mix"], terms, axes=1), W, cfg.anti_collapse)
    # Traced in the order of the rules trained before the two loops became one (W's learned
    # increment, the zoo's, then V's and b's): autodiff sums a cotangent's parts in reverse
    # trace order, so another order changes the meta-gradient's rounding.
    learned_W = base_model.unit_columns(W - lr * column_rms(W) * dW)
    if not cfg.zoo_terms:
      new_W.append(learned_W)
      new_V.append(_fixed_scale_V(V - lr * column_rms(V) * dW))
      new_b.append(b - bias_lr * bias_update(theta, states[l + 1]))
      continue
    gate = theta["learned_gate"]
    learned = learned_W - W
    zoo = sum(
      zoo_increment(theta, cfg, t, W, acts.xs[l], theta["zoo_lr"][i] * term_records.SWEEP_LR[t])
      for i, t in enumerate(cfg.active_zoo_terms)
    )
    new_W.append(W + gate * learned + zoo)
    new_V.append(V + gate * (_fixed_scale_V(V - lr * column_rms(V) * dW) - V))
    new_b.append(b - gate * bias_lr * bias_update(theta, states[l + 1]))
  return params.replace(W=new_W, b=new_b, V=new_V)


def zoo_increment(
  theta: local_rule.Theta,
  cfg: LearnedRule,
  term: str,
  W: jax.Array,
  x: jax.Array,
  lr: float | jax.Array,
) -> jax.Array:
  """One zoo rule's increment on one layer, at a learned step size, with its learned
  parameters from theta["zoo_params"] and its static ones from the config.

  Args:
    theta: the rule's meta-parameters.
    cfg: the rule config (Krotov-Hopfield's p and k).
    term: a name of `zoo.terms.TERMS`.
    W: [in, out], the layer's weights.
    x: [B, in], the layer's input (acts.xs[l], what the zoo rules read).
    lr: scalar, the term's step size (theta["zoo_lr"][t] times the term's unit,
      `zoo.terms.SWEEP_LR`).

  Returns:
    [in, out]: the zoo rule's own increment (`NAME_increment`), so W + this is its step.
  """
  params = {**term_records.init_params(), **theta.get("zoo_params", {})}
  return term_records.increment(
    term, W, x, lr, params, p=cfg.krotov_hopfield_p, k=cfg.krotov_hopfield_k
  )
