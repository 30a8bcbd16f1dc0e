"""Validation of an evaluation config (`default_config.py` and the experiments/configs/
eval_*.py built on it): one-line errors naming the field and the fix, before any data is
loaded or any program compiled."""
from __future__ import annotations

from metaunsup import base_model
from metaunsup.evaluation import default_config
from metaunsup.evaluation import methods as methods_lib
from metaunsup.evaluation.data_specs import DataSpec
from metaunsup.evaluation.protocol import HEADS


def check_config(config) -> None:
  """Checks an evaluation config's fields.

  Args:
    config: the evaluation config (`ml_collections.ConfigDict`, the fields of
      `metaunsup.evaluation.default_config.get_config()`; those it lacks are checked at
      their defaults, `default_config.complete`).

  Raises:
    ValueError: (one line) for an empty or string-valued list, an unknown method (not in
      the registry of `methods.py`, nor "local:KIND" for a registered local rule) or head,
      a config.local_rules entry that is not a registered rule kind or has a bad field, a
      non-integer or too-small count, an unknown activation, a malformed data set spec, or
      a step cap for a data set the config does not evaluate.
  """
  config = default_config.complete(config)
  for field in ("datasets", "methods", "checkpoints", "shots", "heads", "widths"):
    if isinstance(config[field], str) or not config[field]:
      raise ValueError(f"config.{field} must be a non-empty list, got {config[field]!r}")
  for method in config.methods:
    methods_lib.get(method)
  kinds = set(config.local_rules) | {methods_lib.local_kind(m) for m in config.methods}
  for kind in sorted(kinds - {None}):
    try:
      methods_lib.local_rule_config(config, kind)
    except (ValueError, TypeError) as e:
      raise ValueError(f"config.local_rules[{kind!r}]: {e}") from None
  if set(config.heads) - set(HEADS):
    raise ValueError(f"config.heads must be a subset of {HEADS}, got {tuple(config.heads)}")
  for field in ("checkpoints", "shots", "widths"):
    low = 0 if field == "checkpoints" else 1
    if any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in config[field]):
      raise ValueError(f"config.{field} must hold integers >= {low}, got {tuple(config[field])}")
  for field, low in (("num_seeds", 1), ("batch_size", 2), ("query_size", 1),
                     ("reference_batch", 2), ("seed", 0)):
    if isinstance(config[field], bool) or not isinstance(config[field], int) \
        or config[field] < low:
      raise ValueError(f"config.{field} must be an integer >= {low}, got {config[field]!r}")
  base_model.get_activation(config.activation)
  for spec in config.datasets:
    DataSpec.parse(spec)
  for spec, cap in config.step_caps.items():
    if spec not in config.datasets or isinstance(cap, bool) or not isinstance(cap, int):
      raise ValueError(f"config.step_caps[{spec!r}] = {cap!r}: keys must be entries of "
                       "config.datasets and values integer step counts")
  if config.sweep.enabled:
    DataSpec.parse(config.sweep.dataset)
    for a in config.sweep.activations:
      base_model.get_activation(a)
