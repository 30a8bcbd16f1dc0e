"""The jitted meta-step and the meta-optimiser: one meta-gradient over every bucket of
tasks, one clipped Adam update of theta that skips a non-finite meta-gradient (Metz et al.,
ICLR 2019: truncated backprop through unrolled inner loops; learned_optimization's
outer-training step with the estimator kept apart, `metaunsup.estimators`)."""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from metaunsup import estimators, inner, local_rule
from metaunsup.training import clipping
from metaunsup.training.state import MetaTrainState


def make_optimizer(meta: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """clip + adam behind apply_if_finite, which skips (and counts) any meta-gradient holding
  a NaN or inf. Its `max_consecutive_errors` would *apply* the update after that many skips
  in a row; set out of reach here, so a non-finite update never reaches theta. The loop
  stops the run after `meta.max_consecutive_skips` in a row instead (`check_skips`). The
  clip's norm does not overflow (`clipping`): a finite gradient too large to square in
  float32 is clipped to its direction, not to zero.

  Args:
    meta: `config.meta` (clip_norm: global-norm bound; learning_rate: Adam's step size).

  Returns:
    The optax GradientTransformation; its state has `notfinite_count` (skips in a row)
    and `total_notfinite`. The same object for the same two values: it is part of the
    jitted meta-step's static argument (`MetaStatic`), whose functions compare by
    identity, so a second run in one process (a resume, `train_rule` called again)
    reuses the compiled meta-step instead of compiling it anew.
  """
  return _optimizer(float(meta.clip_norm), float(meta.learning_rate))


@functools.lru_cache(maxsize=None)
def _optimizer(clip_norm: float, learning_rate: float) -> optax.GradientTransformation:
  return optax.apply_if_finite(
    optax.chain(clipping.clip_by_global_norm(clip_norm), optax.adam(learning_rate)),
    max_consecutive_errors=np.iinfo(np.int32).max,
  )


class NonFiniteMetaGradientError(ValueError):
  """meta.max_consecutive_skips meta-gradients in a row held a NaN or inf."""


def check_skips(opt_state, step: int, limit: int, workdir: pathlib.Path) -> None:
  """Stop, before this step's state is saved anywhere, after `limit` skips in a row.

  Args:
    opt_state: the state of `make_optimizer`'s optimiser after meta-step `step`.
    step: the meta-step just taken.
    limit: `config.meta.max_consecutive_skips`.
    workdir: the run's folder (named in the message).

  Raises:
    NonFiniteMetaGradientError: `limit` or more non-finite meta-gradients in a row (one line).
  """
  in_a_row = int(opt_state.notfinite_count)
  if in_a_row >= limit:
    raise NonFiniteMetaGradientError(
      f"{in_a_row} non-finite meta-gradients in a row (up to step {step}, "
      f"config.meta.max_consecutive_skips={limit}); theta was never updated with them and "
      f"the last good checkpoint in {workdir / 'checkpoints'} is kept: lower "
      "meta.learning_rate or meta.clip_norm, or check the data, then rerun to resume"
    )


def init_estimator_states(estimator, theta, tasks) -> tuple:
  """The estimator's own state of every bucket's tasks (() for a stateless one).

  Args:
    estimator: a `metaunsup.estimators` estimator.
    theta: the rule's meta-parameters.
    tasks: one TaskState [T_b] per bucket.

  Returns:
    One estimator state [T_b] per bucket.
  """
  return tuple(estimator.init(theta, states) for states in tasks)


@dataclasses.dataclass(frozen=True)
class MetaStatic:
  """What a meta-step holds fixed, built once by `training.setup.setup`: hashable, so the
  jitted `meta_step` takes it as a static argument and compiles once per truncation length.

  Attributes:
    cfgs: one `inner.InnerConfig` per bucket of the task family (its rule included).
    opt: the meta-optimiser (`make_optimizer`).
    estimator: the meta-gradient estimator (`metaunsup.estimators`).
    objective: what a truncation is scored on (`estimators.Objective`).
    advance_steps: forward-only inner steps of every task after the scored ones.
  """

  cfgs: tuple
  opt: optax.GradientTransformation
  estimator: Any = estimators.TruncatedBPTT()
  objective: estimators.Objective = estimators.Objective()
  advance_steps: int = 0


@functools.partial(jax.jit, static_argnames=("static", "k"))
def meta_step(
  state: MetaTrainState, task_data: tuple, *, static: MetaStatic, k: int
) -> tuple[MetaTrainState, tuple, dict]:
  """One meta-update from every bucket (one vmapped program per bucket shape, all in one
  jitted step). Each task is unrolled k scored steps, then `static.advance_steps`
  forward-only ones; `static.estimator` forms the meta-gradient, the mean over all tasks of
  all buckets; tasks that reached their length start over (`inner.reset_finished`).

  Args:
    state: the run's state after `state.step` meta-steps (`training.setup.setup`).
    task_data: one TaskData per bucket, x [T_b, N, D_b], y [T_b, N], by_class [T_b, C, M]
      (`task_family.TaskFamily.step_data`).
    static: the run's fixed pieces (static).
    k: truncation length in inner steps (static).

  Returns:
    (state, dones, metrics): the state after this step (theta, optimiser, tasks, estimator
    state and key advanced, step + 1; `datasets` as given: the host reassigns them with
    `dones`, `TaskFamily.reassign`); dones one bool [T_b] per bucket (the tasks reset);
    metrics meta_loss, query_accuracy, grad_norm, skipped (total non-finite
    meta-gradients), tasks_reset and bucket_loss [B].
  """
  cfgs, estimator, theta = static.cfgs, static.estimator, state.theta
  key, k_step = jax.random.split(state.key)
  grads, new_tasks, new_est, dones, losses, accs = [], [], [], [], [], []
  for cfg, states, est_state, bucket_data, k_bucket in zip(
    cfgs, state.tasks, state.estimator, task_data, jax.random.split(k_step, len(cfgs))
  ):
    truncation = estimators.inner_truncation(cfg, k, static.advance_steps, static.objective)
    mg = estimator.estimate(
      theta, est_state, states, bucket_data, jax.random.fold_in(k_bucket, 1), truncation
    )
    states, done = inner.reset_finished(
      k_bucket, cfg, mg.states, mg.task_losses, bucket_data.x.shape[-1]
    )
    weight = done.shape[0]
    grads.append(jax.tree_util.tree_map(lambda g: g * weight, mg.grads))
    new_tasks.append(states)
    new_est.append(estimators.reset(estimator, theta, mg.estimator_state, states, done))
    dones.append(done)
    losses.append(mg.task_losses)
    accs.append(mg.task_accuracies)
  total = sum(d.shape[0] for d in dones)
  grads = jax.tree_util.tree_map(lambda *g: sum(g) / total, *grads)
  # A rule may penalise its own theta (the compact rule's L1 on its mix): the penalty is
  # exact and cheap, so its gradient is added as is, whatever the estimator.
  if isinstance(cfgs[0].rule, local_rule.HasPenalty):
    grads = jax.tree_util.tree_map(jnp.add, grads, jax.grad(cfgs[0].rule.penalty)(theta))
  updates, opt_state = static.opt.update(grads, state.opt_state, theta)
  theta = optax.apply_updates(theta, updates)
  metrics = {
    "meta_loss": jnp.mean(jnp.concatenate(losses)),
    "query_accuracy": jnp.mean(jnp.concatenate(accs)),
    "grad_norm": clipping.global_norm(grads),
    "skipped": opt_state.total_notfinite,
    "tasks_reset": sum(jnp.sum(d) for d in dones),
    "bucket_loss": jnp.stack([jnp.mean(l) for l in losses]),
  }
  state = state.replace(
    theta=theta,
    opt_state=opt_state,
    tasks=tuple(new_tasks),
    estimator=tuple(new_est),
    key=key,
    step=state.step + 1,
  )
  return state, tuple(dones), metrics
