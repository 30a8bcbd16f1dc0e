"""The public API: load a learned rule, train a base network with it, read features."""
from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import pathlib
import sys
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import (base_model, checkpointing, file_faults, inner, preprocess, pretrained,
                       rule)


@dataclasses.dataclass(frozen=True)
class Rule:
  """A learned update rule: meta-parameters theta and the rule config they belong to."""
  theta: dict
  config: rule.RuleConfig
  meta: dict = dataclasses.field(default_factory=dict)

  def save(self, path) -> None:
    checkpointing.save_rule_file(path, self.theta, dataclasses.asdict(self.config), self.meta)


def load_rule(path) -> Rule:
  """A rule from a meta-training workdir (its rule.msgpack, or the newest checkpoint of a
  run that has not finished), a rule file, or a rule shipped in the package: "pretrained"
  (the default one) or "pretrained:NAME" (see `metaunsup.pretrained`). To load a local
  folder called "pretrained", write "./pretrained"."""
  if not isinstance(path, (str, os.PathLike)):
    raise TypeError(f"load_rule takes a path (a workdir, a {checkpointing.RULE_FILE} file or "
                    f"'pretrained'), got {type(path).__name__} {path!r}")
  if isinstance(path, str) and (path == "pretrained" or path.startswith("pretrained:")):
    return pretrained_rule(path.partition(":")[2] or pretrained.DEFAULT)
  p = pathlib.Path(path)
  if p.is_dir() and not (p / checkpointing.RULE_FILE).exists():
    return _rule_from_checkpoint(p)
  if p.is_dir():
    p = p / checkpointing.RULE_FILE
  if not p.exists():
    raise FileNotFoundError(f"no rule at {path}: pass a workdir of a finished `make meta-train` "
                            f"run or a {checkpointing.RULE_FILE} file")
  try:
    theta, cfg_dict, meta = checkpointing.load_rule_file(p)
  except file_faults.DamagedFileError as e:
    # The run's final checkpoint holds the same theta; a lone rule file has nothing to fall
    # back on.
    if not _has_checkpoints(p.parent):
      raise
    print(f"warning: {p}: damaged or truncated, not read; using the run's newest checkpoint "
          f"instead (rerun the `make meta-train` command to rewrite {p.name})",
          file=sys.stderr)
    return _rule_from_checkpoint(p.parent)
  cfg = rule.RuleConfig.from_dict(cfg_dict)
  theta = jax.tree_util.tree_map(jnp.asarray, theta)
  rule.check_theta(theta, cfg)
  return Rule(theta=theta, config=cfg, meta=meta)


def pretrained_rule(name: str = pretrained.DEFAULT) -> Rule:
  """A rule shipped inside the package; `metaunsup.pretrained.provenance(name)` says how it
  was trained and how it evaluates. Raises FileNotFoundError for an unknown name."""
  return load_rule(pretrained.path(name))


def _has_checkpoints(workdir: pathlib.Path) -> bool:
  return (workdir / "config.json").exists() and (workdir / "checkpoints").is_dir()


def _rule_from_checkpoint(workdir: pathlib.Path) -> Rule:
  if not _has_checkpoints(workdir):
    raise FileNotFoundError(f"no rule at {workdir}: pass a workdir of a `make meta-train` "
                            f"run or a {checkpointing.RULE_FILE} file")
  config_file = workdir / "config.json"
  fix = ("it is the run's config; rerun the `make meta-train` command that wrote it (same "
         "--config and flags) to rewrite it")
  saved = checkpointing.read_json(config_file, fix, keep=None)
  try:
    cfg = rule.RuleConfig.from_dict(saved["rule"])
  except (KeyError, TypeError, ValueError) as e:
    raise file_faults.damaged(config_file, e, fix) from None
  like = {"theta": jax.eval_shape(lambda: rule.init_theta(jax.random.PRNGKey(0), cfg))}
  step, restored = checkpointing.restore_latest(checkpointing.manager(workdir), like,
                                                partial=True)
  if restored is None:
    raise FileNotFoundError(f"{workdir} has no checkpoint yet; wait for the first one "
                            "(config.meta.checkpoint_every steps)")
  try:  # orbax restores the checkpoint's own shapes, whatever `like` says
    rule.check_theta(restored["theta"], cfg)
  except ValueError as e:
    raise ValueError(f"{workdir / 'checkpoints' / str(step)} does not match the rule config in "
                     f"{config_file} ({e}); was config.json edited? {fix}") from None
  return Rule(theta=restored["theta"], config=cfg, meta={"checkpoint_step": int(step)})


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A base network trained by a rule. `features` uses batch-norm statistics gathered on
  the unlabeled training data, so any batch size (one example included) works."""
  params: base_model.BaseParams
  stats: list
  activation: str

  @classmethod
  def from_reference(cls, params: base_model.BaseParams, x_ref, activation: str):
    """A trained network whose features normalise with the statistics of x_ref [N, D]."""
    return cls(params=params, stats=_features_stats(params, jnp.asarray(x_ref), activation),
               activation=activation)

  def features(self, x) -> np.ndarray:
    x = _check_inputs(x, "x", self.params.input_dim)
    return np.asarray(_features(self.params, jnp.asarray(x), self.stats, self.activation))


@functools.partial(jax.jit, static_argnames="activation")
def _features(params, x, stats, activation):
  return base_model.features(params, x, activation, stats)


@functools.partial(jax.jit, static_argnames=("cfg", "k"))
def jitted_unroll(theta, cfg, state, data, k):
  """`inner.unroll` compiled once per (config, shapes, k): apply_rule and evaluation."""
  return inner.unroll(theta, cfg, state, data, k)


def _check_inputs(x, name: str, dim: int | None = None) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D array [examples, features], got shape {x.shape}; "
                     "flatten images first")
  if dim is not None and x.shape[1] != dim:
    raise ValueError(f"{name} has {x.shape[1]} features, the model expects {dim}")
  return preprocess.finite_float32(x, name)


def _integer(value, name: str, minimum: int | None) -> int:
  """`value` as an int, or a one-line error (a float or string count would reach a Python
  loop or jax.random as the wrong type; a zero chunk would loop forever)."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or (minimum is not None and value < minimum)):
    raise ValueError(f"{name} must be an integer" + (f" >= {minimum}" if minimum is not None
                                                      else "") + f", got {value!r}")
  return int(value)


def apply_rule(rule_: Rule, x_unlabeled, *, widths: Sequence[int] = (128, 128, 128, 128, 32),
               activation: str = "relu", steps: int = 1000, batch_size: int = 128,
               seed: int = 0, permute_inputs: bool = True, chunk: int = 100) -> TrainedModel:
  """Train a fresh base network on unlabeled data [N, D] for `steps` inner steps of the rule.
  steps=0 returns the randomly initialised network of this seed (the baseline)."""
  if not isinstance(rule_, Rule):
    raise TypeError(f"apply_rule takes a metaunsup.Rule (from metaunsup.load_rule), got "
                    f"{type(rule_).__name__}")
  x = _check_inputs(x_unlabeled, "x_unlabeled")
  steps, chunk = _integer(steps, "steps", 0), _integer(chunk, "chunk", 1)
  batch_size, seed = _integer(batch_size, "batch_size", 2), _integer(seed, "seed", None)
  if len(x) < 2:
    raise ValueError(f"x_unlabeled needs at least 2 examples (batch norm), got {len(x)}")
  if not 2 <= batch_size <= len(x):
    raise ValueError(f"batch_size must be in [2, {len(x)}] (the number of examples), "
                     f"got {batch_size}")
  cfg = inner.InnerConfig(rule=rule_.config, widths=tuple(int(w) for w in widths),
                          activation=activation, batch_size=int(batch_size),
                          permute_inputs=permute_inputs)
  key_init, key_ref = jax.random.split(jax.random.PRNGKey(seed))
  state = inner.init_task(key_init, x.shape[1], cfg)
  data = inner.unlabeled_data(x)
  done = 0
  while done < steps:
    k = min(chunk, steps - done)
    state = jitted_unroll(rule_.theta, cfg, state, data, k)
    done += k
  ref = x[np.asarray(jax.random.choice(key_ref, len(x), (min(len(x), 1024),), replace=False))]
  return TrainedModel.from_reference(state.params, ref, activation)


@functools.partial(jax.jit, static_argnames="activation")
def _features_stats(params, x, activation):
  return base_model.apply(params, x, activation).stats
