"""The public API (re-exported by `metaunsup`): meta-train a rule, load a learned one, train
a base network with it, read features. Nothing in the core imports this module.

  train_rule(config=None, workdir=None, **overrides) -> TrainResult
  load_rule(path) -> Rule              (path "pretrained": the rule shipped in the package)
  pretrained_rule(name=DEFAULT) -> Rule
  apply_rule(rule, x_unlabeled, *, widths, activation, steps, batch_size, seed) -> TrainedModel
  fewshot_accuracy(support_x, support_y, query_x, query_y, head="ridge") -> float  (heads.py)
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
import pathlib
import tempfile
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, inner, preprocess, pretrained
from metaunsup.heads import fewshot_accuracy
from metaunsup.rule_files import Rule, read_rule

__all__ = ["train_rule", "TrainResult", "load_rule", "pretrained_rule", "apply_rule", "Rule",
           "TrainedModel", "fewshot_accuracy"]


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """What `train_rule` returns.

  Attributes:
    rule: the learned Rule (also in WORKDIR/rule.msgpack).
    history: one dict per meta-step, as in WORKDIR/metrics.jsonl.
    workdir: the run's folder (checkpoints, metrics, summary.json).
  """
  rule: Rule
  history: list      # one dict per meta-step, as in WORKDIR/metrics.jsonl
  workdir: pathlib.Path

  @property
  def summary(self) -> dict:
    """WORKDIR/summary.json (`training.workdir.read_summary`).

    Returns:
      The summary dict, NaN where a loss or accuracy was not finite.

    Raises:
      FileNotFoundError, DamagedFileError: summary.json is missing or does not parse.
    """
    from metaunsup.training import workdir
    return workdir.read_summary(self.workdir)


def train_rule(config=None, workdir=None, **overrides) -> TrainResult:
  """Meta-train a rule (Metz et al., ICLR 2019; `metaunsup.train`). Re-running with the same
  workdir resumes the run.

  Args:
    config: an ml_collections.ConfigDict (default: `metaunsup.default_config.get_config()`).
    workdir: the run's folder (default: a new temporary one).
    **overrides: config sections as dicts (meta={"steps": 50}) or dotted names
      (**{"meta.steps": 50}).

  Returns:
    TrainResult with the rule, the per-step history and the workdir.

  Raises:
    ValueError: an override names an unknown field or has the wrong type, or the config
      fails validation (`training.config_checks`), or the workdir holds another run.
    FileNotFoundError: a data set of the config is not prepared.
  """
  from metaunsup import default_config, train
  config = (default_config.get_config() if config is None else config).copy_and_resolve_references()
  for name, value in overrides.items():
    if isinstance(value, dict):
      for field, v in value.items():
        _set(config, f"{name}.{field}", v)
    else:
      _set(config, name, value)
  workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="metaunsup-"))
  learned, history, workdir = train.train_and_evaluate(config, workdir)
  return TrainResult(rule=learned, history=history, workdir=workdir)


def _set(config, dotted: str, value) -> None:
  *parents, leaf = dotted.split(".")
  node = config
  for p in parents:
    if p not in node:
      raise ValueError(f"unknown config section {p!r} in override {dotted!r}")
    node = node[p]
  if leaf not in node:
    raise ValueError(f"unknown config field {dotted!r}; see metaunsup/default_config.py")
  try:
    node[leaf] = value
  except TypeError:
    raise ValueError(f"config.{dotted} is a {type(node[leaf]).__name__}, got "
                     f"{type(value).__name__} {value!r}; see metaunsup/default_config.py") from None


def load_rule(path) -> Rule:
  """A rule from a meta-training workdir (its rule.msgpack, or the newest checkpoint of a
  run that has not finished), a rule file, or a rule shipped in the package: "pretrained"
  (the default one) or "pretrained:NAME" (see `metaunsup.pretrained`). To load a local
  folder called "pretrained", write "./pretrained".

  Args:
    path: a str or os.PathLike as above.

  Returns:
    The Rule (theta checked against its rule config).

  Raises:
    TypeError: `path` is not a path.
    FileNotFoundError: nothing loadable there.
    DamagedFileError: it does not read back and there is no checkpoint to fall back on.
    ValueError: theta does not match the rule config saved with it.
  """
  return read_rule(path)


def pretrained_rule(name: str = pretrained.DEFAULT) -> Rule:
  """A rule shipped inside the package; `metaunsup.pretrained.provenance(name)` says how it
  was trained and how it evaluates.

  Args:
    name: one of `metaunsup.pretrained.names()`.

  Returns:
    The Rule.

  Raises:
    FileNotFoundError: an unknown name (the message lists the shipped ones).
  """
  return read_rule(pretrained.path(name))


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A base network trained by a rule. `features` uses batch-norm statistics gathered on
  the unlabeled training data, so any batch size (one example included) works.

  Attributes:
    params: the base network's weights (`base_model.BaseParams`).
    stats: per-layer batch-norm statistics of the reference data.
    activation: the network's activation name.
  """
  params: base_model.BaseParams
  stats: list
  activation: str

  @classmethod
  def from_reference(cls, params: base_model.BaseParams, x_ref, activation: str):
    """A trained network whose features normalise with the statistics of `x_ref`.

    Args:
      params: the base network's weights, input width D.
      x_ref: reference examples [N, D] (unlabeled training data).
      activation: the network's activation name.

    Returns:
      TrainedModel.
    """
    return cls(params=params, stats=_features_stats(params, jnp.asarray(x_ref), activation),
               activation=activation)

  def features(self, x) -> np.ndarray:
    """The top-layer representation of `x`.

    Args:
      x: examples [N, D], D the network's input width.

    Returns:
      features [N, F] (float32 numpy), F the top layer's width.

    Raises:
      ValueError: x is not 2-D, has another width, or holds NaN or inf.
    """
    x = _check_inputs(x, "x", self.params.input_dim)
    return np.asarray(_features(self.params, jnp.asarray(x), self.stats, self.activation))


@functools.partial(jax.jit, static_argnames="activation")
def _features(params, x, stats, activation):
  return base_model.features(params, x, activation, stats)


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
  """Train a fresh base network on unlabeled data with the rule alone (no labels, no
  backprop), as the inner loop of Metz et al., ICLR 2019.

  Args:
    rule_: the Rule (from `load_rule`).
    x_unlabeled: unlabeled examples [N, D], N >= 2.
    widths: layer widths of the base network.
    activation: its activation (`base_model.ACTIVATIONS`).
    steps: inner steps of the rule; 0 returns the randomly initialised network of this seed
      (the baseline).
    batch_size: examples per inner step, in [2, N].
    seed: PRNG seed of the initialisation, the batches and the reference sample.
    permute_inputs: permute the input units at initialisation (as in meta-training).
    chunk: inner steps per jitted call (compiles once per chunk length).

  Returns:
    TrainedModel whose batch norm uses the statistics of up to 1024 examples of x_unlabeled.

  Raises:
    TypeError: rule_ is not a Rule.
    ValueError: x_unlabeled is not 2-D or not finite, has fewer than 2 examples, or a count
      (steps, chunk, batch_size, seed) is not an integer in range.
  """
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
    state = inner.jitted_unroll(rule_.theta, cfg, state, data, k)
    done += k
  ref = x[np.asarray(jax.random.choice(key_ref, len(x), (min(len(x), 1024),), replace=False))]
  return TrainedModel.from_reference(state.params, ref, activation)


@functools.partial(jax.jit, static_argnames="activation")
def _features_stats(params, x, activation):
  return base_model.apply(params, x, activation).stats
