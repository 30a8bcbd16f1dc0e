"""Meta-gradient estimators. They see the inner problem only through
`inner.truncated_loss`, so another estimator (ES, PES) slots in beside this one."""
from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import inner


@flax.struct.dataclass
class MetaGradient:
  loss: jax.Array          # mean meta-loss over tasks
  grads: dict              # d loss / d theta
  states: inner.TaskState  # every task's state after the truncation
  task_losses: jax.Array   # [T]
  task_accuracies: jax.Array


def truncated_bptt(theta, cfg: inner.InnerConfig, states: inner.TaskState,
                   data: inner.TaskData, k: int) -> MetaGradient:
  """Backprop through k unrolled inner steps of every task (vmapped); the carried state is
  an input, so the gradient is truncated at the start of the unroll. `states` and `data`
  both have a leading task axis: each task reads its own data."""
  per_task = functools.partial(inner.truncated_loss, cfg=cfg, k=k)

  def mean_loss(theta):
    losses, (new_states, accs) = jax.vmap(
        lambda th, st, d: per_task(th, state=st, data=d), in_axes=(None, 0, 0))(
            theta, states, data)
    return jnp.mean(losses), (new_states, losses, accs)

  (loss, (new_states, losses, accs)), grads = jax.value_and_grad(
      mean_loss, has_aux=True)(theta)
  return MetaGradient(loss=loss, grads=grads, states=new_states, task_losses=losses,
                      task_accuracies=accs)
