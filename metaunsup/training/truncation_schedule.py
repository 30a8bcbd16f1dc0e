"""When tasks are cut and when they start over, in one place (learned_optimization's
truncation_schedule.py is the model): the length k of each meta-step's truncation, each
task's total length, the staggered start of a batch of tasks, and the reset of those that
reached their length (or blew up).

A task runs `total` inner steps, drawn log-uniformly in [min_total_steps, max_total_steps]
(Metz et al., ICLR 2019, App. B); meta-training sees it through truncations of k steps, k
drawn each meta-step from `inner.truncation_lengths`. Which data set a reset task draws is
the task family's (`task_family.TaskFamily.reassign`).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import estimators, inner


def truncation_length(seed: int, step: int, lengths: Sequence[int]) -> int:
  """The truncation length k of meta-step `step`: chosen on the host, so that each length
  compiles once, and seeded by (seed, step), so a resumed run repeats it.

  Args:
    seed: the run's `config.seed`.
    step: the meta-step.
    lengths: the allowed lengths (`config.inner.truncation_lengths`), in inner steps.

  Returns:
    k, one of `lengths`.
  """
  return int(np.random.default_rng([seed, step]).choice(lengths))


def sample_total_steps(key: jax.Array, cfg) -> jax.Array:
  """A task's total length: log-uniform in [cfg.min_total_steps, cfg.max_total_steps].

  Args:
    key: PRNG key.
    cfg: the task's `inner.InnerConfig` (its min_total_steps and max_total_steps).

  Returns:
    int32 scalar, in inner steps.
  """
  lo, hi = np.log(cfg.min_total_steps), np.log(cfg.max_total_steps + 1)
  return jnp.floor(jnp.exp(jax.random.uniform(key, (), minval=lo, maxval=hi))).astype(jnp.int32)


def init_tasks(key: jax.Array, input_dim: int, cfg, num_tasks: int) -> inner.TaskState:
  """A batch of fresh tasks, each at a random offset into its length, so that the batch
  does not reset in lock-step.

  Args:
    key: PRNG key.
    input_dim: D, the width of the tasks' inputs.
    cfg: their `inner.InnerConfig`.
    num_tasks: T.

  Returns:
    TaskState with a leading [T] task axis on every leaf.
  """
  return jax.vmap(lambda k: inner.init_task(k, input_dim, cfg, random_offset=True))(
      jax.random.split(key, num_tasks))


def init_family_tasks(key: jax.Array, family) -> tuple:
  """Every bucket's tasks (`init_tasks`), at random offsets into their lengths.

  Args:
    key: PRNG key.
    family: the `task_family.TaskFamily`.

  Returns:
    One TaskState [T_b] per bucket b.
  """
  return tuple(init_tasks(k, b.input_dim, b.cfg, b.num_tasks) for k, b in
               zip(jax.random.split(key, len(family.buckets)), family.buckets))


def reset_finished(key: jax.Array, cfg, mg: estimators.MetaGradient,
                   input_dim: int) -> tuple:
  """Tasks that reached their length (or whose meta-loss is not finite) start again from a
  fresh network (no offset).

  Args:
    key: PRNG key of the fresh networks.
    cfg: the bucket's `inner.InnerConfig`.
    mg: the bucket's MetaGradient after this truncation (states [T], task_losses [T]).
    input_dim: D, the bucket's input width.

  Returns:
    (states [T] with the finished ones replaced, done [T] bool).
  """
  done = (mg.states.step >= mg.states.total) | ~jnp.isfinite(mg.task_losses)
  fresh = jax.vmap(lambda k_: inner.init_task(k_, input_dim, cfg))(
      jax.random.split(key, done.shape[0]))
  return estimators.base.tree_where(done, fresh, mg.states), done
