"""metaunsup: meta-learn neuron-local unsupervised update rules in JAX.

Public API (defined in `metaunsup.api`, re-exported here)::

  train_rule(config=None, workdir=None, *, rule=None, **overrides) -> TrainResult
  evaluate(rule="pretrained", config="eval_full", out=None, **overrides) -> dict
  load_rule(path) -> Rule              (path "pretrained": the rule shipped in the package)
  pretrained_rule(name=DEFAULT) -> Rule
  apply_rule(rule, x_unlabeled, *, widths, steps, batch_size, seed, standardize) -> TrainedModel
  fewshot_accuracy(support_x, support_y, query_x, query_y, head="ridge") -> float

Every submodule is reachable after a plain `import metaunsup`, loaded on first access
(`metaunsup.pretrained.provenance()`, `metaunsup.rules.LearnedRule`).
"""

from metaunsup import submodules

__all__ = [
  "train_rule",
  "evaluate",
  "load_rule",
  "pretrained_rule",
  "apply_rule",
  "fewshot_accuracy",
  "Rule",
  "TrainedModel",
  "TrainResult",
]


def __getattr__(name: str):
  # Loaded on first use (PEP 562): `import metaunsup.rules` then loads the core alone, not
  # the API's inner problem, which keeps each layer usable without the ones above it.
  if name in __all__:
    from metaunsup import api

    return getattr(api, name)
  return _submodule(name)


_submodule = submodules.loader(__name__)


def __dir__():
  return sorted(list(globals()) + __all__)
