"""metaunsup: meta-learn neuron-local unsupervised update rules in JAX.

Public API (defined in `metaunsup.api`, re-exported here):
  train_rule(config=None, workdir=None, **overrides) -> TrainResult
  load_rule(path) -> Rule              (path "pretrained": the rule shipped in the package)
  pretrained_rule(name=DEFAULT) -> Rule
  apply_rule(rule, x_unlabeled, *, widths, activation, steps, batch_size, seed) -> TrainedModel
  fewshot_accuracy(support_x, support_y, query_x, query_y, head="ridge") -> float
"""
from metaunsup.api import (Rule, TrainedModel, TrainResult, apply_rule, fewshot_accuracy,
                           load_rule, pretrained_rule, train_rule)

__all__ = ["train_rule", "load_rule", "pretrained_rule", "apply_rule", "fewshot_accuracy", "Rule",
           "TrainedModel", "TrainResult"]
