"""Oja's subspace rule (Oja 1989) as a hand-designed local rule, driven by the same
`inner.unroll` as the learned rule, so the two differ only in the update."""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rules.zoo import record

EPS = 1e-8


@local_rule.register("oja")
@dataclasses.dataclass(frozen=True)
class Oja(local_rule.LayerwiseRule):
  """Oja's subspace rule as the `rule` of an `inner.InnerConfig` (Oja 1989): the
  `local_rule.LocalRule` of kind "oja", with nothing to meta-learn (`init_theta` -> {}).
  Hashable, like `LearnedRule`, so it can close over jitted code.

  Attributes:
    lr: the relative step size, in (0, 1): the step is normalised per layer and batch
      (see `oja_step`), so one value suits any width and input scale; it must stay below 1
      for the discrete iteration to be stable.

  Raises:
    ValueError: (one line, at construction) if lr is not in (0, 1).
  """

  lr: float = 0.5

  def __post_init__(self) -> None:
    if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
      raise ValueError(f"Oja.lr must be in (0, 1), got {self.lr!r}")

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`oja_step` with this config (see `local_rule.LayerwiseRule`)."""
    return oja_step(w, x, self.lr)


def oja_step(w: jnp.ndarray, x: jnp.ndarray, lr: float) -> jnp.ndarray:
  """One step of the rule on one layer: w + `oja_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + oja_increment(w, x, lr)


def oja_increment(w: jnp.ndarray, x: jnp.ndarray, lr: float | jax.Array) -> jnp.ndarray:
  """One step of Oja's subspace rule (Oja 1989) on one layer:
  W + eta (x^T y - W y^T y) / B with x the layer input centred over the batch and
  y = x W its linear output (before batch norm). Fixed points: W^T W = I with columns
  spanning the principal subspace of x.

  `eta = lr / max(tr C, max row sum of |M|)`, with C = x^T x / B and M = y^T y / B. The
  iteration stays bounded when eta times the largest eigenvalue of C (the Hebbian growth
  term) and of M (the decay term W M) is below 1; tr C and the Gershgorin row-sum bound
  cap both without an eigendecomposition. The M term matters early: `base_model.init`
  gives columns of norm sqrt(fan_in), so M starts near fan_in times larger than at the
  fixed point and a step scaled only by the input would overshoot. At the fixed point M is
  diagonal with entries at most lambda_max(C) <= tr C, so eta settles at lr / tr C.

  Args:
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the relative step size, in (0, 1).

  Returns:
    [in, out] the increment: the step is w + this (`oja_step`).
  """
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  x = x - jnp.mean(x, axis=0)
  batch = x.shape[0]
  y = x @ w
  m = y.T @ y / batch
  scale = jnp.maximum(jnp.sum(x**2) / batch, local_rule.largest(jnp.sum(jnp.abs(m), axis=1)))
  return lr / (scale + EPS) * (x.T @ y / batch - w @ m)


def _is_oja(rule: Any) -> bool:
  kind = getattr(type(rule), "kind", None)
  return kind == "oja" or (kind == "sanger" and rule.subspace)


TERM = record.Term("oja", lambda w, x, lr, hp, *, p, k: oja_increment(w, x, lr), is_rule=_is_oja)
