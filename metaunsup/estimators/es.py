"""Antithetic truncated ES (Salimans et al., 2017, as learned_optimization's TruncatedES):
every task's truncation is run from its current state with theta + sigma eps and theta -
sigma eps for `pairs` directions eps ~ N(0, I), and

  g = mean_{tasks, pairs} (L(theta + sigma eps) - L(theta - sigma eps)) / (2 sigma) eps,

the gradient of the Gaussian-smoothed truncation loss (exact for a quadratic loss). No
backward pass, so it differentiates through blow-ups and non-smooth steps, but like
truncated BPTT it treats the carried state as a constant: biased on long horizons.
The tasks themselves move on with the unperturbed theta."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from metaunsup.estimators import base


@dataclasses.dataclass(frozen=True)
class AntitheticES:
  """Antithetic truncated ES (module docstring); a static argument of the jitted meta-step.

  Attributes:
    sigma: perturbation scale, in theta's units.
    pairs: antithetic pairs per task and truncation.
    clip: `|L+ - L-|` clipped to this (0: no clipping).
  """

  sigma: float = 0.01  # perturbation scale, in theta's units
  pairs: int = 1  # antithetic pairs per task and truncation
  clip: float = 0.0  # |L+ - L-| clipped to this (0: no clipping)
  name = "es"

  def init(self, theta, states):
    """No per-task state.

    Args:
      theta: meta-parameters (unused).
      states: task states [T] (unused).

    Returns:
      ().
    """
    del theta, states
    return ()

  def estimate(
    self, theta, est_state, states, data, key, truncation: base.Truncation
  ) -> base.MetaGradient:
    """ES estimate from every task [T] and pair [P] (all vmapped), then the unperturbed
    truncation and advance of every task.

    Args:
      theta: meta-parameters.
      est_state: () (no state).
      states: task states [T]; data: each task's data [T].
      key: PRNG key of the perturbations.
      truncation: per-task scored unroll and forward-only advance.

    Returns:
      MetaGradient whose loss and per-task losses are those of theta itself.
    """
    num_tasks = jax.tree_util.tree_leaves(states)[0].shape[0]
    theta = jax.lax.stop_gradient(theta)
    eps = base.perturbations(key, theta, (num_tasks, self.pairs))
    thetas = base.antithetic_thetas(theta, eps, self.sigma)  # [2, T, P]
    over_pairs = jax.vmap(truncation.loss, in_axes=(0, None, None))
    over_tasks = jax.vmap(over_pairs, in_axes=(0, 0, 0))
    losses, _ = jax.vmap(over_tasks, in_axes=(0, None, None))(thetas, states, data)
    delta = base.clip_differences(losses[0] - losses[1], self.clip)  # [T, P]
    grads = base.weighted_directions(delta / (2 * self.sigma), eps)
    task_losses, (new_states, accs) = base.tasks_vmap(truncation.loss)(theta, states, data)
    new_states = base.advance_tasks(truncation, theta, new_states, data)
    return base.MetaGradient(
      loss=jnp.mean(task_losses),
      grads=grads,
      states=new_states,
      estimator_state=est_state,
      task_losses=task_losses,
      task_accuracies=accs,
    )
