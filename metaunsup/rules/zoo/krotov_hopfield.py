"""Krotov & Hopfield (PNAS 2019, "Unsupervised learning by competing hidden units",
116(16):7723-7731): for each input the units are ranked by their input current; the
strongest gets a Hebbian update, the one ranked k-th an anti-Hebbian update of strength
delta, the rest nothing, and the update's form drives the weight vector of every unit that
wins to unit p-norm (the paper's Eq. 3 with its ranking activation g(Q); the fast
minibatch version of the authors' notebook, DimaKrotov/Biological_Learning).

Multi-layer design: every layer learns at once, each on its own input acts.xs[l] (the
previous layer's post-activation output, or the permuted input for layer 0), ranking its
units by the currents `<w, x> = sum_i sign(w_i) |w_i|^(p-1) x_i` that the rule computes from
W (the paper's metric; the plain x . w for p = 2). The input is centred over the batch,
unlike the paper's raw pixel intensities: this project's inputs are standardised images
and relu outputs with a large common mean, which weighs in every unit's current and so in
the ranking, whatever the input (14x14 MNIST, (64, 64, 32), 10^4 steps at lr 0.2: ridge
10-shot accuracy 0.56 uncentred, 0.75 centred). Batch norm discards each unit's mean
current in the forward pass anyway, and Journé et al. (ICLR 2023) open each
convolutional Hebbian block with a batch norm likewise. The forward pass reads x . w
batch-normalised, as the paper's classifier reads the plain currents of the learned
weights; only the direction of each column matters to it.

Learning rate: the paper and notebook decay it linearly to 0 over the epochs of training.
`inner.unroll` passes the rule no step count, and the horizon differs between evaluations
(10^2 to 10^4 inner steps), so the rate here is constant within the inner loop; the
step's own normalisation (largest entry of the update = lr times the layer's rms weight)
stands in for the paper's eps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rules.zoo import record, schedule


@local_rule.register("krotov_hopfield")
@dataclasses.dataclass(frozen=True)
class KrotovHopfield(schedule.ScheduledRule):
  """Krotov & Hopfield's competing hidden units on every layer of the base network.
  Defaults are the paper's for MNIST (p = 3, k = 7, delta = 0.4, with 2000 hidden units;
  the notebook's smaller demo uses p = 2, k = 2 with 100) and the notebook's precision.

  Attributes:
    lr: the relative step size, in (0, 1): the largest entry of a layer's update is lr
      times the root-mean-square entry of its W, so one value suits any width and input
      scale. 0.02 is the notebook's eps0, there absolute, on 784 pixels in [0, 1], where
      weights at unit 3-norm have rms near 784^(-1/3) = 0.11. Without the decay, larger
      steps let a few units take over every layer of a (64, 64, 32) network on 14x14
      Fashion-MNIST by 10^4 steps (ridge 10-shot accuracy 0.19 at lr 0.2, 0.55 at 0.02,
      0.63 at 0.01; one layer of 32 units: 0.68 at 0.2); on MNIST all give 0.76.
    p: the Lebesgue norm the weights converge to (>= 2).
    k: the rank of the unit that gets the anti-Hebbian update (>= 2); a layer with fewer
      than k units uses its last-ranked unit.
    delta: the strength of the anti-Hebbian update (>= 0).
    precision: the floor on the update's largest entry (the notebook's `prec`), so a
      batch that changes nothing divides by it instead of 0.
    lr_schedule: "constant" or "linear" (the notebook's decay to 0 over training;
      `schedule.ScheduledRule`).

  Raises:
    ValueError: (one line, at construction) a value out of range.
  """

  lr: float = 0.02
  p: float = 3.0
  k: int = 7
  delta: float = 0.4
  precision: float = 1e-30

  def __post_init__(self) -> None:
    numbers = all(
      isinstance(getattr(self, f), (int, float)) and not isinstance(getattr(self, f), bool)
      for f in ("lr", "p", "delta", "precision")
    )
    checks = {
      "lr": numbers and 0 < self.lr < 1,
      "p": numbers and self.p >= 2,
      "delta": numbers and self.delta >= 0,
      "precision": numbers and self.precision > 0,
      "k": isinstance(self.k, int) and not isinstance(self.k, bool) and self.k >= 2,
    }
    for name, ok in checks.items():
      if not ok:
        raise ValueError(
          f"krotov_hopfield rule: {name} out of range, got "
          f"{getattr(self, name)!r} (lr in (0, 1), p >= 2, integer k >= 2, "
          "delta >= 0, precision > 0)"
        )
    self.check_schedule()

  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """`krotov_hopfield_step` with this config (see `local_rule.LayerwiseRule`)."""
    return krotov_hopfield_step(w, x, self.lr, self.p, self.k, self.delta, self.precision)

  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """`krotov_hopfield_increment` with this config at step size lr (`ScheduledRule`)."""
    return krotov_hopfield_increment(w, x, lr, self.p, self.k, self.delta, self.precision)


def krotov_hopfield_step(
  w: jnp.ndarray,
  x: jnp.ndarray,
  lr: float,
  p: float = 3.0,
  k: int = 7,
  delta: float | jax.Array = 0.4,
  precision: float = 1e-30,
) -> jnp.ndarray:
  """One step of the rule on one layer: w + `krotov_hopfield_increment` (its arguments, same
  order).

  Returns:
    [in, out] the updated weights.
  """
  return w + krotov_hopfield_increment(w, x, lr, p, k, delta, precision)


def krotov_hopfield_increment(
  w: jnp.ndarray,
  x: jnp.ndarray,
  lr: float | jax.Array,
  p: float = 3.0,
  k: int = 7,
  delta: float | jax.Array = 0.4,
  precision: float = 1e-30,
) -> jnp.ndarray:
  """One minibatch step of Krotov & Hopfield's rule on one layer (their Eq. 3 summed over
  the batch, as in their notebook). With x centred over the batch (module docstring), the
  currents `I = x (sign(W) |W|^(p-1))`, and g = +1 for each input's top unit and -delta for
  its k-th::

      ds_k = sum_b g_bk x_b - (sum_b g_bk I_bk) w_k,   W + lr rms(W) ds / max|ds|.

  The decay term makes `d|w_k|_p^p / dt` proportional to `(sum_b g_bk I_bk)(1 - |w_k|_p^p)`,
  so the p-norm of a unit that wins (positive sum) goes to 1.

  Args:
    w: [in, out] the layer's weights.
    x: [B, in] the layer's input on a batch.
    lr: the relative step size, in (0, 1).
    p: the Lebesgue norm (>= 2).
    k: the rank of the anti-Hebbian unit (capped at the layer's width).
    delta: the anti-Hebbian strength.
    precision: the floor on `max|ds|`.

  Returns:
    [in, out] the increment: the step is w + this (`krotov_hopfield_step`).
  """
  chex.assert_rank([w, x], 2)
  chex.assert_equal(w.shape[0], x.shape[1])
  x = x - jnp.mean(x, axis=0)
  currents = x @ (jnp.sign(w) * jnp.abs(w) ** (p - 1))
  # The top and k-th currents by masking each row's maximum k - 1 times: on XLA's CPU
  # backend, lax.top_k or argmax followed by one-hot made the whole step 4.5x slower (400
  # vs 90 us at 196 inputs, 64 units). Exactly equal currents (identical units) share a
  # rank.
  top = jnp.max(currents, axis=1, keepdims=True)
  rest = currents
  for _ in range(min(k, w.shape[1]) - 1):
    rest = jnp.where(rest >= jnp.max(rest, axis=1, keepdims=True), -jnp.inf, rest)
  kth = jnp.max(rest, axis=1, keepdims=True)
  g = (currents >= top).astype(x.dtype) - delta * (currents == kth).astype(x.dtype)
  ds = x.T @ g - w * jnp.sum(g * currents, axis=0)
  largest = jnp.maximum(local_rule.largest(jnp.abs(ds)), precision)
  return lr * jnp.sqrt(jnp.mean(w**2)) / largest * ds


_DELTA = record.Hyperparameter("krotov_hopfield_delta", "delta", KrotovHopfield.delta)


def _check_static(rule: Any, p: float, k: int) -> str:
  """Why a mix with Krotov-Hopfield's static p and k cannot be `rule`, or ""."""
  precision = KrotovHopfield.precision
  if (rule.p, rule.k, rule.precision) == (p, k, precision):
    return ""
  return (
    f"the krotov_hopfield rule has p={rule.p}, k={rule.k}, precision={rule.precision}, "
    f"the mixing rule's term p={p}, k={k}, precision={precision}; set the rule's "
    "krotov_hopfield_p / krotov_hopfield_k to match"
  )


TERM = record.Term(
  "krotov_hopfield",
  lambda w, x, lr, hp, *, p, k: krotov_hopfield_increment(w, x, lr, p, k, hp[_DELTA.key]),
  is_rule=record.of_kind("krotov_hopfield"),
  hyperparameters=(_DELTA,),
  check_rule=_check_static,
)
