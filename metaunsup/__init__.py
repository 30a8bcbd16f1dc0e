"""metaunsup: meta-learn neuron-local unsupervised update rules in JAX.

Public API:
  train_rule(config=None, workdir=None, **overrides) -> TrainResult
  load_rule(path) -> Rule              (path "pretrained": the rule shipped in the package)
  pretrained_rule(name=DEFAULT) -> Rule
  apply_rule(rule, x_unlabeled, *, widths, activation, steps, batch_size, seed) -> TrainedModel
  fewshot_accuracy(support_x, support_y, query_x, query_y, head="ridge") -> float
"""
from __future__ import annotations

import dataclasses
import pathlib
import tempfile

from metaunsup.api import Rule, TrainedModel, apply_rule, load_rule, pretrained_rule
from metaunsup.heads import fewshot_accuracy

__all__ = ["train_rule", "load_rule", "pretrained_rule", "apply_rule", "fewshot_accuracy", "Rule",
           "TrainedModel", "TrainResult"]


@dataclasses.dataclass(frozen=True)
class TrainResult:
  rule: Rule
  history: list      # one dict per meta-step, as in WORKDIR/metrics.jsonl
  workdir: pathlib.Path

  @property
  def summary(self) -> dict:
    from metaunsup import train
    return train.read_summary(self.workdir)


def train_rule(config=None, workdir=None, **overrides) -> TrainResult:
  """Meta-train a rule. `config` is an ml_collections.ConfigDict (default: the package's
  default config); overrides are sections as dicts (meta={"steps": 50}) or dotted names
  (**{"meta.steps": 50}). Re-running with the same workdir resumes the run."""
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
