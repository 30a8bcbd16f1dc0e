"""Reading and writing rules of any registered kind (`local_rule`): the `Rule` dataclass
(theta + its rule config) and finding one in a rule file, a meta-training workdir (its rule
file, or the newest checkpoint of a run that has not finished) or the package's shipped
rules. Core: the public `metaunsup.load_rule` and meta-training's warm start both read rules
through here."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
from typing import Any

import jax
import jax.numpy as jnp

from metaunsup import checkpointing, file_faults, local_rule, pretrained
from metaunsup import rules as _builtin_rules  # noqa: F401  (registers the package's rules)


@dataclasses.dataclass(frozen=True)
class Rule:
  """An update rule: meta-parameters theta and the rule config they belong to.

  Attributes:
    theta: the rule's meta-parameters, a pytree of arrays (`config.init_theta`'s tree; {}
      for a rule with nothing learned).
    config: the `local_rule.LocalRule` theta belongs to (`rules.LearnedRule` for the learned
      rule, `rules.zoo.Oja`, or a rule of your own).
    meta: provenance written beside theta (seed, meta-steps, data sets, or the checkpoint
      step it was read from).
  """

  theta: Any
  config: local_rule.LocalRule
  meta: dict = dataclasses.field(default_factory=dict)

  def save(self, path) -> None:
    """Write the rule file (msgpack: theta, the config with its kind, meta) atomically.

    Args:
      path: where to write (conventionally `rule.msgpack`).

    Raises:
      TypeError: the config is not a registered rule (its kind would not read back).
      ValueError: theta holds a NaN or inf (nothing is written).
      WriteFailedError: the disk is full; any previous file there is intact.
    """
    local_rule.check_rule(self.config, "Rule.config")
    checkpointing.save_rule_file(path, self.theta, local_rule.to_stored(self.config), self.meta)


def read_rule(path) -> Rule:
  """A rule from a meta-training workdir (its rule.msgpack, or the newest checkpoint of a
  run that has not finished), a rule file, or a rule shipped in the package: "pretrained"
  (the default one) or "pretrained:NAME" (see `metaunsup.pretrained`). To load a local
  folder called "pretrained", write "./pretrained".

  Args:
    path: a str or os.PathLike as above.

  Returns:
    The Rule, theta as jax arrays checked against its config.

  Raises:
    TypeError: `path` is not a path.
    FileNotFoundError: nothing loadable there (or an unknown pretrained name).
    DamagedFileError: the file (or every checkpoint) does not read back and there is nothing
      to fall back on.
    ValueError: theta does not match the rule config saved with it (naming each entry that
      is missing, extra or of another shape, with both shapes), the file's rule kind is not
      registered (naming the registered kinds), or a field of its config is unknown or out
      of range; one line that starts with the file.
  """
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(
      f"load_rule takes a path (a workdir, a {checkpointing.RULE_FILE} file or "
      f"'pretrained'), got {type(path).__name__} {path!r}"
    )
  if isinstance(path, str) and (path == "pretrained" or path.startswith("pretrained:")):
    return read_rule(pretrained.path(path.partition(":")[2] or pretrained.DEFAULT))
  p = pathlib.Path(path)
  if p.is_dir() and not (p / checkpointing.RULE_FILE).exists():
    return _rule_from_checkpoint(p)
  if p.is_dir():
    p = p / checkpointing.RULE_FILE
  if not p.exists():
    raise FileNotFoundError(
      f"no rule at {path}: pass a workdir of a finished meta-training run (`python -m "
      f"metaunsup.train`, `make meta-train`, `metaunsup.train_rule`) or a "
      f"{checkpointing.RULE_FILE} file"
    )
  try:
    theta, cfg_dict, meta = checkpointing.load_rule_file(p)
  except file_faults.DamagedFileError:
    # The run's final checkpoint holds the same theta; a lone rule file has nothing to fall
    # back on.
    if not _has_checkpoints(p.parent):
      raise
    print(
      f"warning: {p}: damaged or truncated, not read; using the run's newest checkpoint "
      f"instead ({checkpointing.RERUN} to rewrite {p.name})",
      file=sys.stderr,
    )
    return _rule_from_checkpoint(p.parent)
  # Every error from here on is one line that starts with the file.
  fix = (
    "was the file edited or written by another version of metaunsup? Rerun the `make "
    f"meta-train` command that wrote {p.name} to write it again"
  )
  if not isinstance(cfg_dict, dict):
    raise file_faults.damaged(
      p, TypeError(f"its rule config is not a mapping: {cfg_dict!r:.60}"), fix
    )
  try:  # a kind that is not registered is not damage: its line says to import the rule
    local_rule.rule_class(cfg_dict.get("kind"))  # no "kind": from before kinds, "learned"
  except ValueError as e:
    raise ValueError(f"{p}: {e}") from None
  try:
    cfg = local_rule.from_dict(cfg_dict)
  except (TypeError, ValueError) as e:  # an unknown field, a value out of range
    raise ValueError(f"{p}: its rule config does not read back: {e}; {fix}") from None
  try:
    theta = jax.tree_util.tree_map(jnp.asarray, theta)
  except (TypeError, ValueError) as e:
    raise file_faults.damaged(p, e, fix) from None
  try:
    cfg.check_theta(theta)
  except ValueError as e:
    detail = str(e).removesuffix(f"; {local_rule.THETA_FIX}")
    raise ValueError(
      f"{p}: its theta does not fit the {cfg.kind} rule config saved with it: {detail}; {fix}"
    ) from None
  return Rule(theta=theta, config=cfg, meta=meta)


def _has_checkpoints(workdir: pathlib.Path) -> bool:
  return (workdir / "config.json").exists() and (workdir / "checkpoints").is_dir()


def _rule_from_checkpoint(workdir: pathlib.Path) -> Rule:
  if not _has_checkpoints(workdir):
    raise FileNotFoundError(
      f"no rule at {workdir}: pass a workdir of a meta-training run (`python -m "
      f"metaunsup.train`, `make meta-train`, `metaunsup.train_rule`) or a "
      f"{checkpointing.RULE_FILE} file"
    )
  config_file = workdir / "config.json"
  fix = f"it is the run's config; {checkpointing.RERUN} (same config and overrides) to rewrite it"
  saved = checkpointing.read_json(config_file, fix, keep=None)
  try:
    stored = dict(saved["rule"])
  except (KeyError, TypeError, ValueError) as e:
    raise file_faults.damaged(config_file, e, fix) from None
  # A kind that is not registered is not damage: its one line says to import the rule.
  try:
    local_rule.rule_class(stored.get("kind"))
  except ValueError as e:
    raise ValueError(f"{config_file}: {e}") from None
  try:
    cfg = local_rule.from_dict(stored)
  except (TypeError, ValueError) as e:
    raise file_faults.damaged(config_file, e, fix) from None
  like = {"theta": jax.eval_shape(lambda: cfg.init_theta(jax.random.PRNGKey(0)))}
  step, restored = checkpointing.restore_latest(checkpointing.manager(workdir), like, partial=True)
  if restored is None:
    raise FileNotFoundError(
      f"{workdir} has no checkpoint yet; wait for the first one "
      "(config.meta.checkpoint_every steps)"
    )
  try:  # orbax restores the checkpoint's own shapes, whatever `like` says
    cfg.check_theta(restored["theta"])
  except ValueError as e:
    raise ValueError(
      f"{workdir / 'checkpoints' / str(step)} does not match the rule config in "
      f"{config_file} ({e}); was config.json edited? {fix}"
    ) from None
  return Rule(theta=restored["theta"], config=cfg, meta={"checkpoint_step": int(step)})
