"""Everything a meta-training needs, built once from a config and a rule: the task family,
the static pieces of the jitted meta-step (`meta_step.MetaStatic`) and the initial
`MetaTrainState`. `train.py`'s loop, the tests, the benchmarks and the notebooks all start
here, then call `meta_step.meta_step(state, task_data, static=static, k=k)`.

  family, static, state = setup(config)                      # the rule of config.rule
  family, static, state = setup(config, MyRule())            # a rule of your own
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from metaunsup import estimators, inner, local_rule, sharding, task_family
from metaunsup.training.meta_step import MetaStatic, init_estimator_states, make_optimizer
from metaunsup.training.state import MetaTrainState, warm_start_theta


def rule_of(config: ml_collections.ConfigDict) -> local_rule.LocalRule:
  """The rule `config.rule` names: its `kind` ("learned" when absent, as in configs written
  before kinds) and its fields.

  Args:
    config: a meta-training config (`metaunsup.configs.default`).

  Returns:
    The rule config (a registered `local_rule.LocalRule`).

  Raises:
    ValueError: an unknown kind or field, or a bad value (one line).
  """
  return local_rule.from_dict(config.rule.to_dict())


def with_rule(config: ml_collections.ConfigDict, rule) -> ml_collections.ConfigDict:
  """A copy of `config` whose `rule` section is `rule`'s stored form
  ({"kind": rule.kind, **rule.to_dict()}), so that config.json records the rule and a
  resumed run checks it.

  Args:
    config: a meta-training config.
    rule: an instance of a registered rule (`local_rule.register`).

  Returns:
    The new ConfigDict (the argument is not changed).

  Raises:
    TypeError: `rule` is not an instance of a registered, hashable rule class.
  """
  local_rule.check_rule(rule, "the rule to meta-train")
  out = config.copy_and_resolve_references()
  with out.unlocked():
    out.rule = ml_collections.ConfigDict(local_rule.to_stored(rule))
  return out


def inner_config(config: ml_collections.ConfigDict) -> inner.InnerConfig:
  """The settings every task shares; the task family fills in shapes and augmentations
  per bucket.

  Args:
    config: a meta-training config (`metaunsup.configs.default`), complete
      (`config_checks.complete`).

  Returns:
    inner.InnerConfig of the rule (`rule_of`), readout and task lengths (default widths
    and shapes).
  """
  return inner.InnerConfig(
    rule=rule_of(config),
    permute_inputs=config.family.permute_inputs,
    shots=config.heads.shots,
    query_per_class=config.heads.query_per_class,
    ridge_lambda=config.heads.ridge_lambda,
    readout_scaling=config.heads.readout_scaling,
    reference_batch=config.inner.reference_batch,
    min_total_steps=config.inner.min_total_steps,
    max_total_steps=config.inner.max_total_steps,
    remat=config.inner.remat,
  )


def check_trainable(rule) -> None:
  """A one-line error for a rule with nothing to meta-train by gradient.

  Args:
    rule: a registered rule.

  Raises:
    ValueError: its `init_theta` returns no arrays (a hand-designed rule such as Oja's).
  """
  shapes = jax.eval_shape(lambda: rule.init_theta(jax.random.PRNGKey(0)))
  if not jax.tree_util.tree_leaves(shapes):
    raise ValueError(
      f"the {rule.kind!r} rule has no meta-parameters (its init_theta returns "
      f"{shapes!r}), so there is nothing to meta-train: evaluate it as it is "
      "(metaunsup.apply_rule, make evaluate) or give it a theta to learn"
    )


def setup(
  config: ml_collections.ConfigDict,
  rule: local_rule.LocalRule | None = None,
  *,
  key: jax.Array | None = None,
  mesh=None,
) -> tuple[task_family.TaskFamily, MetaStatic, MetaTrainState]:
  """The task family, the meta-step's static pieces and the initial state of a run.

  Args:
    config: a complete meta-training config (`config_checks.complete`; validated:
      `config_checks.validate`).
    rule: the rule to meta-train (a registered `local_rule.LocalRule`); None: the one
      `config.rule` names. (`train.train_and_evaluate` records it in the config first,
      `with_rule`, so that config.json names it.)
    key: PRNG key of theta's and the tasks' initialisation, and of the first meta-step
      (default: PRNGKey(config.seed), what `make meta-train` uses).
    mesh: a `sharding.task_mesh` to place the state on (tasks and their estimator state
      sharded by task, the rest replicated); None leaves it where it was made.

  Returns:
    (family, static, state): the `task_family.TaskFamily` (host side: each step's data,
    data set reassignment), the `meta_step.MetaStatic`, and the `MetaTrainState` at step 0
    (theta from the rule's `init_theta`, or `config.meta.init_rule`'s theta).

  Raises:
    ValueError: an unknown rule kind or field, a rule with nothing to meta-train, or an
      `init_rule` that does not fit the rule (one line each).
    FileNotFoundError: a data set of the family (or `init_rule`) is not there.
    TypeError: as `with_rule`.
  """
  if rule is not None:
    config = with_rule(config, rule)
  rule = rule_of(config)
  check_trainable(rule)
  family = task_family.TaskFamily(config, inner_config(config))
  static = MetaStatic(
    cfgs=tuple(b.cfg for b in family.buckets),
    opt=make_optimizer(config.meta),
    estimator=estimators.from_config(config.meta),
    objective=estimators.objective_from_config(config.meta),
    advance_steps=int(config.inner.advance_steps),
  )
  key = jax.random.PRNGKey(config.seed) if key is None else key
  key, k_theta, k_tasks = jax.random.split(key, 3)
  theta = rule.init_theta(k_theta)
  if config.meta.init_rule:
    theta = warm_start_theta(config.meta.init_rule, rule, k_theta)
  tasks = family.init_tasks(k_tasks)
  state = MetaTrainState(
    theta=theta,
    opt_state=static.opt.init(theta),
    tasks=tasks,
    datasets=family.initial_datasets(),
    key=key,
    step=jnp.asarray(0, jnp.int32),
    estimator=init_estimator_states(static.estimator, theta, tasks),
  )
  if mesh is not None:
    state = state.from_checkpoint(sharding.place_train_state(state.to_checkpoint(), mesh))
  return family, static, state
