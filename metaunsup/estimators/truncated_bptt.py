"""Truncated backprop through time: the exact gradient of each truncation's loss with the
carried state treated as a constant. Cheap and low-variance, but biased: it never sees how
theta's earlier steps shaped the state it starts from (greedy on long horizons)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from metaunsup.estimators import base


@dataclasses.dataclass(frozen=True)
class TruncatedBPTT:
  """Truncated BPTT (module docstring): Metz et al., ICLR 2019's meta-gradient; a static
  argument of the jitted meta-step."""

  name = "truncated_bptt"

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
    """Backprop through every task's truncation (vmapped over the leading [T] axis of
    `states` and `data`), then advance the tasks forward-only.

    Args:
      theta: meta-parameters (shared by every task).
      est_state: () (this estimator keeps no state).
      states: task states [T].
      data: each task's data [T].
      key: unused (the tasks' own keys drive their randomness).
      truncation: the per-task scored unroll and the forward-only advance.

    Returns:
      MetaGradient; grads is d mean_T(loss) / d theta.
    """
    del key

    def mean_loss(theta):
      losses, (new_states, accs) = base.tasks_vmap(truncation.loss)(theta, states, data)
      return jnp.mean(losses), (new_states, losses, accs)

    (loss, (new_states, losses, accs)), grads = jax.value_and_grad(mean_loss, has_aux=True)(theta)
    new_states = base.advance_tasks(truncation, theta, new_states, data)
    return base.MetaGradient(
      loss=loss,
      grads=grads,
      states=new_states,
      estimator_state=est_state,
      task_losses=losses,
      task_accuracies=accs,
    )
