"""ES-Single (Vicol, Kolter and Swersky, "Low-Variance Gradient Estimation in Unrolled
Computation Graphs with ES-Single", ICML 2023), antithetic: every task keeps `pairs` pairs
of particles, and ONE direction eps ~ N(0, I) per pair, drawn when the task starts and kept
for the whole inner problem (every truncation until the task is reset). The positive
particle is always unrolled with theta + sigma eps, the negative one with theta - sigma eps,
and after truncation t

  g_t = mean_{tasks, pairs} (L_t+ - L_t-) / (2 sigma) * eps.

L_t+ depends on the whole trajectory so far, all of it unrolled with theta + sigma eps, so
g_t is full-unroll antithetic ES of L_t cut at truncation t, and the sum over an inner
problem's truncations is exactly full-unroll ES of the summed loss: unbiased for the
gradient of the sum of every truncation's loss under one Gaussian perturbation of theta
acting on the whole inner problem (exact for quadratic losses; else for that smoothed
objective), although each truncation is unrolled only k steps.

Why its variance does not grow with the number of truncations: PES (`pes.py`) draws a
fresh eps_s each truncation and weighs L+ - L- by their sum, whose norm grows like sqrt(t)
(its variance like t), so PES's estimate at truncation t, and the sum of its estimates over
an inner problem split into more truncations, grow noisier; ES-Single multiplies by one eps,
so its estimate at truncation t is as noisy as full-unroll ES of L_t, and the sum over an
inner problem is the same full-unroll ES estimate however many truncations it is cut into.

Forward-only advance: after the scored steps each particle keeps its own perturbed theta for
the `advance_steps` (as PES), so the advanced steps belong to the same eps and later
truncations' losses keep their whole dependence on it.

The particles (leading [T, 2, P]), the directions ([T, P]) and a per-task flag `fresh` [T]
are the estimator's state: checkpointed, so a resumed run goes on with the same directions.
`init` (also run by `base.reset` for the tasks that were reset) has no PRNG key: it copies
the task into the particles and marks the task fresh, and the next `estimate` draws new
directions, from its own key, for the fresh tasks only. The task's own state follows its
first positive particle."""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import inner
from metaunsup.estimators import base


class ESSingleState(flax.struct.PyTreeNode):
  """ES-Single's per-task state, checkpointed with the run.

  Attributes:
    particles: task states [T, 2 (+, -), P].
    eps: theta's tree, leaves [T, P, ...]: each pair's direction for the inner problem.
    fresh: bool [T]: the task was (re)started and has no direction yet (its eps is unused).
  """

  particles: object  # task states [T, 2 (+, -), P]
  eps: object  # theta's tree, leaves [T, P, ...]: each pair's direction, kept until the reset
  fresh: jax.Array  # bool [T]: directions to draw at the next estimate


@dataclasses.dataclass(frozen=True)
class ESSingle:
  """Antithetic ES-Single (module docstring); a static argument of the jitted meta-step.

  Attributes:
    sigma: perturbation scale, in theta's units.
    pairs: antithetic pairs (particle pairs, one direction each) per task.
    clip: `|L+ - L-|` clipped to this (0: no clipping).
  """

  sigma: float = 0.01  # perturbation scale, in theta's units
  pairs: int = 1  # antithetic pairs (particle pairs, one direction each) per task
  clip: float = 0.0  # |L+ - L-| clipped to this (0: no clipping)
  name = "es_single"

  def init(self, theta, states) -> ESSingleState:
    """Every particle a copy of its task's state; every task fresh (directions drawn at its
    next estimate).

    Args:
      theta: meta-parameters (the directions take their tree).
      states: task states [T].

    Returns:
      ESSingleState: particles [T, 2, P], eps zeros [T, P, ...], fresh True [T].
    """
    num_tasks = jax.tree_util.tree_leaves(states)[0].shape[0]
    particles = base.particle_states(states, self.pairs)
    eps = jax.tree_util.tree_map(
      lambda t: jnp.zeros((num_tasks, self.pairs) + jnp.shape(t), jnp.result_type(t)), theta
    )
    return ESSingleState(particles=particles, eps=eps, fresh=jnp.ones((num_tasks,), bool))

  def estimate(
    self, theta, est_state: ESSingleState, states, data, key, truncation: base.Truncation
  ) -> base.MetaGradient:
    """One truncation of every particle (tasks [T], signs [2] and pairs [P] vmapped), with
    new directions for the fresh tasks and each other task's own.

    Args:
      theta: meta-parameters.
      est_state: ESSingleState of every task.
      states: task states [T] (only their number is read: the particles carry the state).
      data: each task's data [T], shared by its particles.
      key: PRNG key of the fresh tasks' directions.
      truncation: per-task scored unroll and forward-only advance.

    Returns:
      MetaGradient; loss and per-task losses are means over each task's particles.
    """
    del states
    theta = jax.lax.stop_gradient(theta)
    num_tasks = jax.tree_util.tree_leaves(data)[0].shape[0]
    drawn = base.perturbations(key, theta, (num_tasks, self.pairs))
    eps = inner.tree_where(est_state.fresh, drawn, est_state.eps)  # [T, P, ...]
    thetas = base.particle_thetas(theta, eps, self.sigma)  # [T, 2, P]
    losses, particles, accs = base.run_particles(truncation, thetas, est_state.particles, data)
    delta = base.clip_differences(losses[:, 0] - losses[:, 1], self.clip)  # [T, P]
    grads = base.weighted_directions(delta / (2 * self.sigma), eps)
    task_losses = jnp.mean(losses, axis=(1, 2))
    return base.MetaGradient(
      loss=jnp.mean(task_losses),
      grads=grads,
      states=jax.tree_util.tree_map(lambda x: x[:, 0, 0], particles),
      estimator_state=ESSingleState(
        particles=particles, eps=eps, fresh=jnp.zeros_like(est_state.fresh)
      ),
      task_losses=task_losses,
      task_accuracies=jnp.mean(accs, axis=(1, 2)),
    )
