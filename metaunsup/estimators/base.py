"""What every meta-gradient estimator shares: the truncation it is handed, what it returns,
and how its per-task state is reset with the task.

An estimator sees the inner problem only through a `Truncation`: per-task functions that
unroll and score (with gradient, or forward-only), so the same estimator code runs the real
inner problem (`inner_truncation`) and a toy dynamical system in the tests. It is a frozen
(hashable) dataclass, a static argument of the jitted meta-step, with

  init(theta, states) -> per-task estimator state, leading task axis [T] (may be empty);
  estimate(theta, est_state, states, data, key, truncation) -> MetaGradient.

Every leading [T] task axis is vmapped inside `estimate`, in the one jitted program.
Layout follows learned_optimization's outer_trainers (one estimator per file).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import inner


class MetaGradient(flax.struct.PyTreeNode):
  """What an estimator returns for a batch of T tasks (leaves as commented)."""

  loss: jax.Array  # mean meta-loss over tasks (of theta itself where it is run)
  grads: Any  # estimate of d loss / d theta, theta's tree
  states: Any  # every task's state after the truncation (and advance) [T]
  estimator_state: Any  # the estimator's own per-task state after the truncation [T]
  task_losses: jax.Array  # [T]
  task_accuracies: jax.Array  # [T]


# (theta, state, data) -> (loss, (new_state, accuracy)): one task's scored truncation.
LossFn = Callable[[Any, Any, Any], tuple]
# (theta, state, data) -> new_state: one task's forward-only, unscored steps.
AdvanceFn = Callable[[Any, Any, Any], Any]


@dataclasses.dataclass(frozen=True)
class Truncation:
  """One task's truncation as an estimator sees it. `advance` runs after the scored part;
  its steps shape the states later truncations start from but are never differentiated."""

  loss: LossFn
  advance: AdvanceFn | None = None


@dataclasses.dataclass(frozen=True)
class Objective:
  """What a truncation is scored on (`meta.objective`, `meta.objective_points`,
  `meta.worsening_penalty`): the meta-loss at the end ("final", points=1) or averaged over
  `points` evenly spaced points of the truncation, plus `worsening` times every increase
  of the meta-loss from one scored point to the next (the first compared against the
  state the truncation started from)."""

  points: int = 1
  worsening: float = 0.0


def inner_truncation(
  cfg: inner.InnerConfig, k: int, advance_steps: int = 0, objective: Objective = Objective()
) -> Truncation:
  """The meta-training inner problem: k scored inner steps, then `advance_steps`
  forward-only ones.

  Args:
    cfg: the tasks' InnerConfig.
    k: scored inner steps (the truncation length).
    advance_steps: forward-only inner steps after them (0: none).
    objective: what the truncation is scored on.

  Returns:
    Truncation of one task (vmapped over [T] by the estimators).
  """

  def loss(theta, state, data):
    if objective == Objective():
      return inner.truncated_loss(theta, cfg, state, data, k)
    return inner.trajectory_loss(theta, cfg, state, data, k, objective.points, objective.worsening)

  def advance(theta, state, data):
    return inner.advance(theta, cfg, state, data, advance_steps)

  return Truncation(loss=loss, advance=advance if advance_steps else None)


def tasks_vmap(fn, *, theta_axis=None):
  """vmap over the leading task axis of states and data (theta shared unless told).

  Args:
    fn: (theta, state, data) -> anything, for one task.
    theta_axis: theta's mapped axis (None: shared).

  Returns:
    fn over states [T] and data [T].
  """
  return jax.vmap(fn, in_axes=(theta_axis, 0, 0))


def advance_tasks(truncation: Truncation, theta, states, data, theta_axis=None):
  """Forward-only steps of every task [T] (no-op without an advance).

  Args:
    truncation: the Truncation (its `advance`).
    theta: meta-parameters (no gradient flows through them here).
    states: task states [T].
    data: each task's data [T].
    theta_axis: theta's mapped axis (None: shared).

  Returns:
    task states [T] after the advance.
  """
  if truncation.advance is None:
    return states
  return tasks_vmap(truncation.advance, theta_axis=theta_axis)(
    jax.lax.stop_gradient(theta), states, data
  )


def reset(estimator, theta, est_state, states, done: jax.Array):
  """Estimator state of the tasks that were reset (done [T]) starts again from theirs.

  Args:
    estimator: the estimator (its `init`).
    theta: meta-parameters.
    est_state: its per-task state [T] (returned as is when it has no leaves).
    states: the task states [T] after the reset.
    done: bool [T], the tasks reset.

  Returns:
    estimator state [T].
  """
  if not jax.tree_util.tree_leaves(est_state):
    return est_state
  return inner.tree_where(done, estimator.init(theta, states), est_state)


def perturbations(key, theta, shape: tuple):
  """Standard-normal directions with theta's tree, each leaf `[*shape, *leaf.shape]`.

  Args:
    key: PRNG key.
    theta: meta-parameters (tree and dtypes).
    shape: leading shape, e.g. (T, P).

  Returns:
    eps, theta's tree.
  """
  leaves, treedef = jax.tree_util.tree_flatten(theta)
  keys = jax.random.split(key, len(leaves))
  return jax.tree_util.tree_unflatten(
    treedef,
    [jax.random.normal(k, shape + jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)],
  )


def antithetic_thetas(theta, eps, sigma: float):
  """theta + sigma eps and theta - sigma eps, stacked on a new leading [2] axis.

  Args:
    theta: meta-parameters.
    eps: directions, theta's tree with leading axes (e.g. [T, P]).
    sigma: perturbation scale.

  Returns:
    theta's tree, leaves `[2, *eps leaf shape]`.
  """
  return jax.tree_util.tree_map(lambda t, e: jnp.stack([t + sigma * e, t - sigma * e]), theta, eps)


def particle_states(states, pairs: int):
  """Copies of each task's state for the persistent estimators' particles (PES, ES-Single).

  Args:
    states: task states [T].
    pairs: antithetic pairs P per task.

  Returns:
    task states [T, 2 (+, -), P].
  """
  return jax.tree_util.tree_map(
    lambda x: jnp.broadcast_to(x[:, None, None], x.shape[:1] + (2, pairs) + x.shape[1:]), states
  )


def particle_thetas(theta, eps, sigma: float):
  """theta + sigma eps and theta - sigma eps for every task's pairs.

  Args:
    theta: meta-parameters.
    eps: directions, theta's tree with leaves [T, P, ...].
    sigma: perturbation scale.

  Returns:
    theta's tree, leaves [T, 2 (+, -), P, ...].
  """
  return jax.tree_util.tree_map(lambda t, e: t + sigma * jnp.stack([e, -e], axis=1), theta, eps)


def run_particles(truncation: Truncation, thetas, particles, data):
  """One truncation (then its advance) of every particle, each with its own theta: tasks [T],
  signs [2] and pairs [P] vmapped, a task's data shared by its particles.

  Args:
    truncation: the scored unroll and forward-only advance.
    thetas: theta's tree, leaves [T, 2, P, ...] (`particle_thetas`).
    particles: task states [T, 2, P].
    data: each task's data [T].

  Returns:
    (losses [T, 2, P], particles [T, 2, P] after the truncation and advance, accuracies
    [T, 2, P]).
  """

  def over_particles(fn):
    over_pairs = jax.vmap(fn, in_axes=(0, 0, None))
    return jax.vmap(jax.vmap(over_pairs, in_axes=(0, 0, None)), in_axes=(0, 0, 0))

  losses, (particles, accs) = over_particles(truncation.loss)(thetas, particles, data)
  if truncation.advance is not None:
    particles = over_particles(truncation.advance)(thetas, particles, data)
  return losses, particles, accs


def clip_differences(delta: jax.Array, clip: float) -> jax.Array:
  """Loss differences of antithetic pairs clipped to [-clip, clip] (clip 0: unclipped), so
  one blown-up inner run cannot dominate an ES estimate.

  Args:
    delta: L+ - L- per pair, e.g. [T, P].
    clip: bound (0: unclipped).

  Returns:
    delta clipped, same shape.
  """
  return jnp.clip(delta, -clip, clip) if clip else delta


def weighted_directions(weights: jax.Array, directions):
  """sum_i weights[i] directions[i] / n over every leading axis of `weights`.

  Args:
    weights: e.g. [T, P].
    directions: theta's tree, leaves `[*weights.shape, ...]`.

  Returns:
    theta's tree, the weighted mean direction.
  """
  n = weights.size
  return jax.tree_util.tree_map(
    lambda d: jnp.tensordot(weights, d, axes=weights.ndim) / n, directions
  )
