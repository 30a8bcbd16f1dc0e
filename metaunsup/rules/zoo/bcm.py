"""BCM (Bienenstock, Cooper & Munro 1982, "Theory for the development of neuron
selectivity", J. Neuroscience 2(1)) with a sliding threshold: dw = lr x y (y - theta_M),
with theta_M = E[y^2] as in the objective-function form of Intrator & Cooper (1992,
Neural Networks 5(1)), where the update is gradient ascent on E[y^3] / 3 - E[y^2]^2 / 4
(the 1982 paper slides theta_M with the square of the time-averaged response instead).

The threshold, by default, is the batch's estimate of E[y^2], per unit: the expectation
Intrator & Cooper's form calls for, estimated from the batch at hand rather than from past
steps. `threshold_rate` > 0 keeps BCM's running average instead, as the rule's own state
(`local_rule.HasState`), one value per unit, checkpointed and reset with the task. BCM's
temporal average is an online estimate of the same expectation from one example per step,
and BCM is stable only when the threshold tracks it faster than the weights change
(Intrator & Cooper 1992; Udeigwe, Munro & Ermentrout 2017): the batch estimate is that fast
limit.

Multi-layer design: every layer learns at once, each on its own input acts.xs[l] (the
previous layer's post-activation output, or the permuted input for layer 0), with the
response y = relu(x~ W) that the rule computes from W: a firing rate, as BCM's neuron has
(Intrator & Cooper's y = sigma(x . w) with sigma = relu; the update's sigma'(c) factor is
then implied, since y (y - theta) is 0 wherever y is). x~ is the raw (uncentred) input, as
in BCM's theory of rates, divided by its rms norm over the batch: BCM is not
scale-invariant (a unit selective to inputs of probability q settles at y = 1 / q), and on
inputs of unit rms norm `base_model.init`'s columns start at responses of order 1, where
its dynamics are, for any input scale and width. (Without that scaling, responses start
near sqrt(fan_in) and the rule is a pure decay of the high-variance directions for
thousands of steps.) The forward pass reads x . w batch-normalised; BCM's weight scale is
invisible to it.

Measured on 14x14 MNIST (ridge readout, 10 labels per class, 10^4 steps): one layer of 32
units reaches 0.70 (linear y: 0.64; centred inputs: 0.66), but a (64, 64, 32) network only
0.55 at lr 0.03: without lateral inhibition (Castellani et al. 1999's network form) nothing
keeps the units of a layer apart, and the top layer's features stay correlated (mean
`|correlation|` 0.6).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp

from metaunsup import base_model, local_rule
from metaunsup.rules.zoo import record, schedule

EPS = 1e-8


@local_rule.register("bcm")
@dataclasses.dataclass(frozen=True)
class BCM(schedule.ScheduledRule):
  """BCM with a sliding threshold on every layer of the base network.

  Attributes:
    lr: the relative step size, in (0, 1): the step is normalised per unit and batch
      (`bcm_step`), so one value suits any width and input scale. BCM is a
      continuous-time theory with no published step size for this setting; 0.03 did best
      of 0.003 to 0.3 on 14x14 MNIST (module docstring).
    threshold_rate: 0 (the default): the threshold is the batch's estimate of E[y^2] (module
      docstring); in (0, 1]: BCM's sliding threshold as published, a running average kept
      per unit (the rule's state), theta_k <- theta_k + rate (mean_b y_bk^2 - theta_k),
      starting at the first batch's estimate (1: the batch's estimate again).
    lr_schedule: "constant" or "linear" (`schedule.ScheduledRule`).

  Raises:
    ValueError: (one line, at construction) lr outside (0, 1), threshold_rate outside
      [0, 1], or an unknown lr_schedule.
  """

  lr: float = 0.03
  threshold_rate: float = 0.0

  def __post_init__(self) -> None:
    if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
      raise ValueError(f"bcm rule: lr must be in (0, 1), got {self.lr!r}")
    rate = self.threshold_rate
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
      raise ValueError(
        f"bcm rule: threshold_rate must be in [0, 1] (0: the batch's estimate), got {rate!r}"
      )
    self.check_schedule()

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`bcm_step` with this config (see `local_rule.LayerwiseRule`)."""
    return bcm_step(w, x, self.lr)

  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """`bcm_increment` at step size lr (`ScheduledRule`)."""
    return bcm_increment(w, x, lr)

  def init_state(self, params: base_model.BaseParams) -> list[jax.Array] | None:
    """The running thresholds, one [n_{l+1}] per layer, unset (-1) until the first batch;
    None with threshold_rate 0.

    Args:
      params: the fresh network.

    Returns:
      list of [n_{l+1}] float32, or None.
    """
    if not self.threshold_rate:
      return None
    return [jnp.full((w.shape[1],), -1.0, jnp.float32) for w in params.W]

  def update_with_state(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: list[jax.Array] | None,
    info: local_rule.StepInfo,
  ) -> tuple[base_model.BaseParams, list[jax.Array] | None]:
    """One step with the running threshold (threshold_rate > 0) at the scheduled rate.

    Args:
      theta: unused ({}).
      params: the network.
      acts: its forward pass on a batch.
      state: the running thresholds (`init_state`).
      info: the step and the task's length.

    Returns:
      (params with every W updated, the new thresholds).
    """
    if not self.threshold_rate:
      return super().update_with_state(theta, params, acts, state, info)
    assert state is not None, "the state of init_state"
    lr = self.lr * schedule.lr_factor(self.lr_schedule, info)
    new_w, thresholds = [], []
    for w, x, running in zip(params.W, acts.xs, state):
      xn, y = _response(w, x)
      batch = jnp.sum(y**2, axis=0) / x.shape[0]
      running = jnp.where(running < 0, batch, running + self.threshold_rate * (batch - running))
      new_w.append(w + _increment(xn, y, lr, running))
      thresholds.append(running)
    return params.replace(W=new_w), thresholds


def bcm_step(w: jnp.ndarray, x: jnp.ndarray, lr: float) -> jnp.ndarray:
  """One step of the rule on one layer: w + `bcm_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + bcm_increment(w, x, lr)


def bcm_increment(w: jnp.ndarray, x: jnp.ndarray, lr: float | jax.Array) -> jnp.ndarray:
  """One step of BCM on one layer: with `x~ = x / rms_b |x_b|`, y = relu(x~ W) and the
  threshold theta_k = mean_b y_bk^2::

      dw_k = eta_k x~^T (y_k (y_k - theta_k)) / B,  eta_k = lr / theta_k.

  The step: the response map's slope near a fixed point is of order theta_k (inputs of
  unit power), and where responses are far above their fixed-point scale the update is
  dominated by the decay -theta_k C w_k, whose eigenvalues are at most theta_k tr C =
  theta_k; dividing by theta_k keeps both below lr per step. A unit that responds to
  nothing (theta_k = 0) has a zero update, not a division by zero.

  Args:
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the relative step size, in (0, 1).

  Returns:
    [in, out] the increment: the step is w + this (`bcm_step`).
  """
  x, y = _response(w, x)
  return _increment(x, y, lr, jnp.sum(y**2, axis=0) / x.shape[0])


def _response(w: jnp.ndarray, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  # x~ (x over its batch rms norm) [B, in] and y = relu(x~ W) [B, out].
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  x = x * jax.lax.rsqrt(jnp.sum(x**2) / x.shape[0] + EPS)
  return x, jax.nn.relu(x @ w)


def _increment(
  x: jnp.ndarray, y: jnp.ndarray, lr: float | jax.Array, threshold: jnp.ndarray
) -> jnp.ndarray:
  # dw_k = lr / theta_k x~^T (y_k (y_k - theta_k)) / B (`bcm_increment`).
  return lr / (threshold + EPS) * (x.T @ (y * (y - threshold)) / x.shape[0])


TERM = record.Term(
  "bcm", lambda w, x, lr, hp, *, p, k: bcm_increment(w, x, lr), is_rule=record.of_kind("bcm")
)
