"""Each unit's per-example standing within its layer, the inputs `LearnedRule.competition`
adds to the unit network (issue 29): a softmax share and a rank."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from metaunsup.rules.learned.norms import bn_batch

if TYPE_CHECKING:
  from metaunsup import local_rule


def competition_features(theta: local_rule.Theta, z: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Each unit's per-example standing within its layer (`LearnedRule.competition`).

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
  zn = bn_batch(z)
  share = n * jax.nn.softmax(zn * jnp.exp(-theta["competition_log_temperature"]), axis=1)
  rank = midrank(jax.lax.stop_gradient(zn)) / max(n - 1, 1)
  return share, rank


# Above this many pairs (B n^2), `midrank` sorts instead of comparing every pair.
PAIRWISE_RANK_MAX = 64 * 320 * 320


def midrank(z: jax.Array) -> jax.Array:
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
  if B * n * n <= PAIRWISE_RANK_MAX:
    # Counting every pair in one fused reduction: 0.4 ms at B = 64, n = 196 on the 2-core
    # CPU, against 1.5 ms for the sort below and 2.8 ms for argsort of argsort; from about
    # n = 384 (B = 64) it slows down tenfold (11 ms, the sort 3.3 ms).
    zi, zj = z[:, :, None], z[:, None, :]
    twice = jnp.sum(jnp.where(zj < zi, 2.0, jnp.where(zj == zi, 1.0, 0.0)), axis=2)
    return 0.5 * (twice - 1.0)

  def row(sorted_row: jax.Array, values: jax.Array) -> jax.Array:
    left = jnp.searchsorted(sorted_row, values, side="left")  # #smaller
    right = jnp.searchsorted(sorted_row, values, side="right")  # #smaller or equal
    return 0.5 * (left + right - 1).astype(jnp.float32)

  return jax.vmap(row)(jnp.sort(z, axis=1), z)
