"""Sanger's generalized Hebbian algorithm (Sanger 1989, "Optimal unsupervised learning in a
single-layer linear feedforward neural network", Neural Networks 2(6)) and, as its option,
Oja's subspace rule (Oja 1989): the local-rule version of PCA.

Multi-layer design: every layer learns at once, each on its own input acts.xs[l] (the
previous layer's post-activation output, or the permuted input for layer 0), from linear
currents it computes itself, y = x_c W with x_c the input centred over the batch: the
currents the forward pass batch-normalises, so the rule sees what the network computes
before batch norm's per-unit rescaling. A layer thus extracts the leading principal
components of the representation below it; batch norm makes the unit-norm fixed point
irrelevant to the features, only the directions matter. All layers at once is what
`inner.unroll` drives (one forward pass, one update), and a layer's input keeps changing
only while the layer below has not converged, as in any greedy layer-wise PCA.

In a relu network the ordered components make weaker features than the subspace rule's
rotated basis (14x14 MNIST, ridge readout on 10 labels per class, 10^4 steps: 0.30 for
Sanger and 0.56 for Oja's subspace rule at (64, 64, 32), 0.60 and 0.67 with one layer of
32): each of Sanger's units carries a single component, of which the relu keeps one sign.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rules.zoo import record, schedule

EPS = 1e-8


@local_rule.register("sanger")
@dataclasses.dataclass(frozen=True)
class Sanger(schedule.ScheduledRule):
  """Sanger's rule (or Oja's subspace rule) on every layer of the base network.

  Attributes:
    lr: the relative step size, in (0, 1): the step is normalised per layer and batch
      (`sanger_step`), so one value suits any width and input scale. Sanger (1989) states
      convergence for a decaying step; a constant one (the inner loop passes no step count)
      leaves the weights fluctuating around the fixed point by O(lr / batch). 0.5 is
      `rules.zoo.Oja`'s default, for the same normalised step.
    subspace: use Oja's subspace rule (decay through the full y^T y: the principal
      subspace, in no particular order) instead of Sanger's (the lower triangle: the
      principal components in order).
    lr_schedule: "constant" or "linear" (a decaying rate, as Sanger's convergence proof
      asks; `schedule.ScheduledRule`).

  Raises:
    ValueError: (one line, at construction) lr outside (0, 1) or subspace not a bool.
  """

  lr: float = 0.5
  subspace: bool = False

  def __post_init__(self) -> None:
    if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
      raise ValueError(f"sanger rule: lr must be in (0, 1), got {self.lr!r}")
    if not isinstance(self.subspace, bool):
      raise ValueError(f"sanger rule: subspace must be true or false, got {self.subspace!r}")
    self.check_schedule()

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`sanger_step` with this config (see `local_rule.LayerwiseRule`)."""
    return sanger_step(w, x, self.lr, self.subspace)

  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """`sanger_increment` with this config at step size lr (`ScheduledRule`)."""
    return sanger_increment(w, x, lr, self.subspace)


def sanger_step(w: jnp.ndarray, x: jnp.ndarray, lr: float, subspace: bool = False) -> jnp.ndarray:
  """One step of the rule on one layer: w + `sanger_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + sanger_increment(w, x, lr, subspace)


def sanger_increment(
  w: jnp.ndarray, x: jnp.ndarray, lr: float | jax.Array, subspace: bool = False
) -> jnp.ndarray:
  """One step of Sanger's rule on one layer (Sanger 1989, averaged over the batch):
  W + eta (x^T y - W UT[y^T y]) / B, with x centred over the batch, y = x W, and UT the
  upper triangle including the diagonal (Sanger's LT[y y^T] for a [out, in] matrix,
  transposed to this project's [in, out] layout): unit j is decorrelated from units
  1..j only, so column j converges to the j-th principal component. With `subspace`,
  the decay uses all of y^T y (Oja's subspace rule, `rules.zoo.oja.oja_step`).

  `eta = lr / max(tr C, max row sum of |M|)`, C = x^T x / B and M = y^T y / B, as in
  `rules.zoo.oja.oja_step`: the Hebbian growth (eigenvalues of C, at most tr C) and the
  decay through UT[M] (whose row sums are at most M's, so Gershgorin bounds it the same
  way) both stay below 1 per step, however large `base_model.init`'s columns or the input.

  Args:
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the relative step size, in (0, 1).
    subspace: Oja's subspace rule instead of Sanger's.

  Returns:
    [in, out] the increment: the step is w + this (`sanger_step`).
  """
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  x = x - jnp.mean(x, axis=0)
  batch = x.shape[0]
  y = x @ w
  m = y.T @ y / batch
  scale = jnp.maximum(jnp.sum(x**2) / batch, local_rule.largest(jnp.sum(jnp.abs(m), axis=1)))
  decay = m if subspace else jnp.triu(m)
  return lr / (scale + EPS) * (x.T @ y / batch - w @ decay)


TERM = record.Term(
  "sanger",
  lambda w, x, lr, hp, *, p, k: sanger_increment(w, x, lr, False),
  # Sanger's rule with `subspace` is Oja's subspace rule, the "oja" term.
  is_rule=lambda rule: getattr(type(rule), "kind", None) == "sanger" and not rule.subspace,
)
