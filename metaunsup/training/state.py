"""The meta-training state: everything a run needs to go on from a meta-step, as one typed
pytree (flax.struct), and where theta starts (random, or a warm start from a learned rule).

Checkpoints hold `MetaTrainState.to_checkpoint()`, a dict with the same entries as the
dict-of-strings state written before this class existed, so older workdirs still resume.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import local_rule
from metaunsup.rule_files import read_rule


class MetaTrainState(flax.struct.PyTreeNode):
  """A meta-training run's state after `step` meta-steps.

  Attributes:
    theta: the rule's meta-parameters (its `init_theta`'s tree), replicated.
    opt_state: the meta-optimiser's state (`meta_step.make_optimizer`), replicated.
    tasks: one `inner.TaskState` per bucket b, leaves with a leading [T_b] task axis,
      sharded over devices by task.
    datasets: one int32 [T_b] per bucket: the index, into the bucket's data sets, of the one
      each task is on (host state of the task family).
    key: the PRNG key of the next meta-step.
    step: int32 scalar, meta-steps done.
    estimator: the estimator's per-task state, one [T_b] tree per bucket (PES's particles
      and accumulators; trees without leaves for a stateless estimator).
  """

  theta: Any
  opt_state: Any
  tasks: tuple
  datasets: tuple
  key: jax.Array
  step: jax.Array
  estimator: tuple = ()

  def to_checkpoint(self) -> dict:
    """The state as checkpoints hold it: {"theta", "opt_state", "tasks", "datasets", "key",
    "step"}, plus "estimator" only when it has leaves (as written before this class).

    Returns:
      dict of the fields.
    """
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    if not jax.tree_util.tree_leaves(self.estimator):
      del out["estimator"]
    return out

  def from_checkpoint(self, restored: dict) -> MetaTrainState:
    """This state with the entries of `restored` (`to_checkpoint`'s dict, as restored or
    placed on devices) in place of its own.

    Args:
      restored: a dict with some or all of the fields.

    Returns:
      MetaTrainState.
    """
    return self.replace(**restored)


ZOO_PREFIX = "zoo:"


def parse_zoo_rule(spec: str):
  """The zoo rule `spec` names: "zoo:KIND" (the rule's defaults) or
  "zoo:KIND:FIELD=VALUE,FIELD=VALUE" (e.g. "zoo:krotov_hopfield:lr=0.0067", the lr
  experiments/zoo/sweep.py chose on meta-training data).

  Args:
    spec: the string, with the "zoo:" prefix.

  Returns:
    The rule instance (`local_rule.from_dict`).

  Raises:
    ValueError: a malformed spec, a value that is not a number or true/false, or an unknown
      kind or field (one line).
  """
  kind, _, fields = spec[len(ZOO_PREFIX) :].partition(":")
  values: dict[str, Any] = {}
  for item in filter(None, fields.split(",")):
    name, eq, text = item.partition("=")
    if not eq or not name:
      raise ValueError(
        f"config.meta.init_rule={spec!r}: expected zoo:KIND or zoo:KIND:FIELD=VALUE,..., "
        f"got the item {item!r}"
      )
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
      values[name.strip()] = lowered == "true"
      continue
    try:
      number = float(text)
    except ValueError:
      raise ValueError(
        f"config.meta.init_rule={spec!r}: {name}={text!r} is not a number or true/false"
      ) from None
    values[name.strip()] = int(number) if number.is_integer() and "." not in text else number
  try:
    return local_rule.from_dict(values, kind=kind)
  except (TypeError, ValueError) as e:  # an unknown kind or field, a value out of range
    raise ValueError(f"config.meta.init_rule={spec!r}: {e}") from None


def zoo_theta(spec: str, rule_cfg: local_rule.LocalRule, key: jax.Array) -> Any:
  """theta that makes `rule_cfg` the zoo rule `spec` names (`parse_zoo_rule`): a warm start
  at a hand-designed rule's quality, through the rule's `theta_from`.

  Args:
    spec: "zoo:KIND[:FIELD=VALUE,...]".
    rule_cfg: the rule of this run; it must contain the zoo's rules (`theta_from`).
    key: PRNG key of what the zoo rule leaves free (the learned rule's network).

  Returns:
    theta, float32 leaves with the structure and shapes of `rule_cfg.init_theta`.

  Raises:
    ValueError: a malformed spec, a rule that cannot start from a zoo rule, or one that
      lacks that rule's term (one line).
  """
  zoo_rule = parse_zoo_rule(spec)
  if not isinstance(rule_cfg, local_rule.HasThetaFrom):
    raise ValueError(
      f"config.meta.init_rule={spec!r}: a rule of kind {rule_cfg.kind!r} cannot start from "
      "a zoo rule; use config.rule.kind='compact', or the learned rule with zoo_terms"
    )
  try:
    theta = rule_cfg.theta_from(zoo_rule, key)
  except ValueError as e:  # the rule lacks the zoo rule's term, or has another p or k
    raise ValueError(f"config.meta.init_rule={spec!r}: {e}") from None
  rule_cfg.check_theta(theta)
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), theta)


def warm_start_theta(path, rule_cfg: local_rule.LocalRule, key: jax.Array | None = None) -> Any:
  """theta of the rule at `path` (a rule file or a meta-training workdir) to start from:
  `meta.init_rule`, fine-tuning a shipped rule on a new task family.

  Args:
    path: a rule file, a workdir, "pretrained[:NAME]" (`rule_files.read_rule`), or
      "zoo:KIND[:FIELD=VALUE,...]" (`zoo_theta`: a hand-designed rule the run's rule
      contains).
    key: PRNG key of a zoo warm start's free meta-parameters (default PRNGKey(0)).
    rule_cfg: the rule of this run (`config.rule`), any registered kind.

  Returns:
    theta, float32 leaves with the structure and shapes of `rule_cfg.init_theta`.

  Raises:
    FileNotFoundError: nothing loadable at `path`.
    ValueError: it holds a rule of another kind, or its theta does not have the shapes
      `rule_cfg` needs (one line).
  """
  if isinstance(path, str) and path.startswith(ZOO_PREFIX):
    return zoo_theta(path, rule_cfg, jax.random.PRNGKey(0) if key is None else key)
  loaded = read_rule(path)
  if loaded.config.kind != rule_cfg.kind:
    raise ValueError(
      f"config.meta.init_rule={path} holds a rule of kind "
      f"{loaded.config.kind!r}, config.rule is of kind {rule_cfg.kind!r}; "
      "set config.rule.kind (and its fields) to the rule's own"
    )
  theta = loaded.theta
  if isinstance(rule_cfg, local_rule.ExtendsTheta):
    theta = rule_cfg.extend_theta(theta)  # e.g. a learned schedule added at 0
  expected = jax.eval_shape(lambda: rule_cfg.init_theta(jax.random.PRNGKey(0)))
  differ = local_rule.theta_mismatch(theta, expected, "config.rule")
  if differ:
    theirs, ours = loaded.config.to_dict(), rule_cfg.to_dict()
    settings = {f: theirs[f] for f in ours if theirs.get(f) != ours[f]}
    raise ValueError(
      f"config.meta.init_rule={path}: {differ}; set config.rule to the rule's own "
      f"settings {settings}"
    )
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), theta)
