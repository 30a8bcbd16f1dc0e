"""SoftHebb for dense layers (Moraitis et al., "SoftHebb: Bayesian inference in unsupervised
Hebbian soft winner-take-all networks", Neuromorphic Computing and Engineering 2022;
Journé et al., "Hebbian deep learning without feedback", ICLR 2023): a soft winner-take-all,
y = softmax over the layer's units of the currents u = x W at an inverse temperature, and
the plasticity dw_ik = lr y_k (x_i - u_k w_ik), under which the layer fits a mixture model
whose components are the units' weight vectors, which converge to unit norm (public code:
NeuromorphicComputing/SoftHebb, `hebblinear.HebbSoftLinear` with lebesgue_p = 2).

Multi-layer design: every layer learns at once, each on its own input acts.xs[l] (the
previous layer's post-activation output, or the permuted input for layer 0), from the
currents u = x~ W the rule computes itself. x~ is the input centred over the batch, as
by the batch norm that opens each Hebbian block of Journé et al.'s convolutional networks
(their presets' `batchnorm2d`; without its per-feature rescaling, which would blow up the
near-constant border pixels of standardised images), then divided by its rms norm over
the batch: SoftHebb's theory assumes inputs of unit norm,
and one scalar per batch (not per example) gives any input scale and width the same
softmax sharpness without changing the geometry between examples. Uncentred, the inputs'
large common mean makes every unit's current nearly the same and the units converge
together (on 14x14 MNIST, (64, 64, 32), 10^4 steps: mean `|correlation|` between top-layer
features 0.8, ridge 10-shot accuracy 0.41; centred, 0.3 and 0.74). The forward pass reads
x . w batch-normalised, which discards the mean current as the centring does; only each
column's direction matters to it.

Learning rate: constant within the inner loop (`inner.unroll` passes no step count); the
code's MLP preset adapts it per unit as `lr |1 - |w_k||^0.2`, which stops a unit once its
norm has converged; here the normalised step (`softhebb_step`) decides the scale instead.
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rules.zoo import record, schedule

EPS = 1e-8


@local_rule.register("softhebb")
@dataclasses.dataclass(frozen=True)
class SoftHebb(schedule.ScheduledRule):
  """SoftHebb on every layer of the base network.

  Attributes:
    lr: the relative step size, in (0, 1): the unit with the largest share of the batch
      (or the largest decay rate) moves by at most lr of the way to its fixed point
      (`softhebb_step`), so one value suits any width and input scale. The code's MNIST
      MLP preset (`2SoftMlpMNIST`: soft-c2000-t12-lr0.045) uses 0.045 for its absolute,
      max-entry-normalised step on 2000 units; here 0.05 to 0.6 gave the same features
      (14x14 Fashion-MNIST, (64, 64, 32), 10^4 steps: ridge 10-shot accuracy 0.60).
    inverse_temperature: the softmax's inverse temperature on the currents of inputs of
      unit rms norm. The preset's `t_invert` = 12 acts on MNIST pixels in [0, 1], whose
      rms norm is sqrt(784 (0.1307^2 + 0.3081^2)) = 9.4 (the usual per-pixel mean and sd),
      so on inputs of unit rms norm its sharpness is 12 * 9.4 = 112.
    lr_schedule: "constant" or "linear", an annealed rate (`schedule.ScheduledRule`).

  Raises:
    ValueError: (one line, at construction) lr outside (0, 1) or a non-positive inverse
      temperature.
  """

  lr: float = 0.2
  inverse_temperature: float = 112.0

  def __post_init__(self) -> None:
    if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
      raise ValueError(f"softhebb rule: lr must be in (0, 1), got {self.lr!r}")
    if not isinstance(self.inverse_temperature, (int, float)) or not self.inverse_temperature > 0:
      raise ValueError(
        f"softhebb rule: inverse_temperature must be > 0, got {self.inverse_temperature!r}"
      )
    self.check_schedule()

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`softhebb_step` with this config (see `local_rule.LayerwiseRule`)."""
    return softhebb_step(w, x, self.lr, self.inverse_temperature)

  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """`softhebb_increment` with this config at step size lr (`ScheduledRule`)."""
    return softhebb_increment(w, x, lr, self.inverse_temperature)


def softhebb_step(
  w: jnp.ndarray, x: jnp.ndarray, lr: float, inverse_temperature: float | jax.Array = 112.0
) -> jnp.ndarray:
  """One step of the rule on one layer: w + `softhebb_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + softhebb_increment(w, x, lr, inverse_temperature)


def softhebb_increment(
  w: jnp.ndarray,
  x: jnp.ndarray,
  lr: float | jax.Array,
  inverse_temperature: float | jax.Array = 112.0,
) -> jnp.ndarray:
  """One step of SoftHebb on one layer (Moraitis et al. 2022's plasticity, averaged over
  the batch). With x_c the input centred over the batch, `x~ = x_c / rms_b |x_c,b|`,
  u = x~ W and y = softmax(inverse_temperature u) over units::

      dW = x~^T y / B - W diag(m),  m_k = mean_b y_bk u_bk,

  so `d|w_k|^2 / dt = 2 m_k (1 - |w_k|^2)`: a unit with positive mean current converges to
  unit norm.

  Step: `eta = lr / max(max_k mean_b y_bk, max_k |m_k|)`. The Hebbian term of unit k has norm
  at most about its share of the batch (inputs of unit rms norm) and its decay factor is
  eta m_k, so neither moves any unit by more than about lr of the way per step, from
  `base_model.init`'s columns of norm sqrt(fan_in) (where m is large) to the fixed point
  (where m_k is at most the unit's share); it is the analogue of `rules.zoo.oja.oja_step`'s
  bound, and width-free: with more units the shares shrink and eta grows to match.

  Args:
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the relative step size, in (0, 1).
    inverse_temperature: the softmax's inverse temperature.

  Returns:
    [in, out] the increment: the step is w + this (`softhebb_step`).
  """
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  batch = x.shape[0]
  x = x - jnp.mean(x, axis=0)
  x = x * jax.lax.rsqrt(jnp.sum(x**2) / batch + EPS)
  u = x @ w
  y = jax.nn.softmax(inverse_temperature * u, axis=1)
  decay = jnp.sum(y * u, axis=0) / batch
  scale = jnp.maximum(
    local_rule.largest(jnp.sum(y, axis=0) / batch), local_rule.largest(jnp.abs(decay))
  )
  return lr / (scale + EPS) * (x.T @ y / batch - w * decay)


_INVERSE_TEMPERATURE = record.Hyperparameter(
  "softhebb_log_inverse_temperature",
  "inverse_temperature",
  SoftHebb.inverse_temperature,
  log=True,
)
TERM = record.Term(
  "softhebb",
  lambda w, x, lr, hp, *, p, k: softhebb_increment(
    w, x, lr, _INVERSE_TEMPERATURE.value(hp[_INVERSE_TEMPERATURE.key])
  ),
  is_rule=record.of_kind("softhebb"),
  hyperparameters=(_INVERSE_TEMPERATURE,),
)
