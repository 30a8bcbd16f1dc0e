"""Persistent evolution strategies (Vicol, Metz and Sohl-Dickstein, ICML 2021), antithetic,
as learned_optimization's TruncatedPES: every task keeps `pairs` pairs of particles, a
positive one always unrolled with theta + sigma eps_t and a negative one with
theta - sigma eps_t (a fresh eps_t each truncation), and an accumulator of every eps it has
used since the task was reset. The estimate

  g = mean_{tasks, pairs} (L+ - L-) / (2 sigma) * sum_{s <= t} eps_s

is unbiased for the gradient of the sum of every truncation's (Gaussian-smoothed) loss over
the whole trajectory, however long, although each truncation is unrolled only k steps.

Forward-only advance: after the scored steps each particle keeps its own perturbed theta
for the `advance_steps`, so the advance belongs to the same perturbation eps_t already in
the accumulator and the estimate stays unbiased for the losses that are scored (the
advanced steps shape later states; nothing there is scored). Advancing the particles with
the unperturbed theta instead would hide those steps' dependence on eps from the estimate.

The particles' states (leading [T, 2, P]) and accumulators ([T, P]) are the estimator's
state: checkpointed, and started again (copies of the fresh task, accumulator zero) when
their task is reset. The task's own state follows its first positive particle."""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup.estimators import base


class PESState(flax.struct.PyTreeNode):
  """PES's per-task state, checkpointed with the run.

  Attributes:
    particles: task states [T, 2 (+, -), P].
    accumulator: theta's tree, leaves [T, P, ...]: the sum of eps since the task's reset.
  """

  particles: object  # task states [T, 2 (+, -), P]
  accumulator: object  # theta's tree, leaves [T, P, ...]: sum of eps since the reset


@dataclasses.dataclass(frozen=True)
class PES:
  """Antithetic persistent ES (module docstring); a static argument of the jitted meta-step.

  Attributes:
    sigma: perturbation scale, in theta's units.
    pairs: antithetic pairs (particle pairs) per task.
    clip: `|L+ - L-|` clipped to this (0: no clipping).
  """

  sigma: float = 0.01  # perturbation scale, in theta's units
  pairs: int = 1  # antithetic pairs (particle pairs) per task
  clip: float = 0.0  # |L+ - L-| clipped to this (0: no clipping)
  name = "pes"

  def init(self, theta, states) -> PESState:
    """Every particle a copy of its task's state; nothing accumulated yet.

    Args:
      theta: meta-parameters (the accumulator takes their tree).
      states: task states [T].

    Returns:
      PESState: particles [T, 2, P], accumulator zeros [T, P, ...].
    """
    num_tasks = jax.tree_util.tree_leaves(states)[0].shape[0]
    particles = base.particle_states(states, self.pairs)
    accumulator = jax.tree_util.tree_map(
      lambda t: jnp.zeros((num_tasks, self.pairs) + jnp.shape(t), jnp.result_type(t)), theta
    )
    return PESState(particles=particles, accumulator=accumulator)

  def estimate(
    self, theta, est_state: PESState, states, data, key, truncation: base.Truncation
  ) -> base.MetaGradient:
    """One truncation of every particle (tasks [T], signs [2] and pairs [P] vmapped).

    Args:
      theta: meta-parameters.
      est_state: PESState of every task.
      states: task states [T] (only their number is read: the particles carry the state).
      data: each task's data [T], shared by its particles.
      key: PRNG key of this truncation's perturbations.
      truncation: per-task scored unroll and forward-only advance.

    Returns:
      MetaGradient; loss and per-task losses are means over each task's particles.
    """
    del states
    theta = jax.lax.stop_gradient(theta)
    num_tasks = jax.tree_util.tree_leaves(data)[0].shape[0]
    eps = base.perturbations(key, theta, (num_tasks, self.pairs))
    accumulator = jax.tree_util.tree_map(jnp.add, est_state.accumulator, eps)
    thetas = base.particle_thetas(theta, eps, self.sigma)  # [T, 2, P]
    losses, particles, accs = base.run_particles(truncation, thetas, est_state.particles, data)
    delta = base.clip_differences(losses[:, 0] - losses[:, 1], self.clip)  # [T, P]
    grads = base.weighted_directions(delta / (2 * self.sigma), accumulator)
    task_losses = jnp.mean(losses, axis=(1, 2))
    return base.MetaGradient(
      loss=jnp.mean(task_losses),
      grads=grads,
      states=jax.tree_util.tree_map(lambda x: x[:, 0, 0], particles),
      estimator_state=PESState(particles=particles, accumulator=accumulator),
      task_losses=task_losses,
      task_accuracies=jnp.mean(accs, axis=(1, 2)),
    )
