"""Validation of an evaluation config (`default_config.py` and the experiments/configs/
eval_*.py built on it): one-line errors naming the field and the fix, before any data is
loaded or any program compiled."""
from __future__ import annotations

from metaunsup import base_model
from metaunsup.evaluation.data_specs import DataSpec
from metaunsup.evaluation.protocol import HEADS, METHODS


def check_config(config) -> None:
  """Checks an evaluation config's fields.

  Args:
    config: the evaluation config (`ml_collections.ConfigDict`, the fields of
      `metaunsup.evaluation.default_config.get_config()`).

  Raises:
    ValueError: (one line) for an empty or string-valued list, an unknown method or head,
      a non-integer or too-small count, an unknown activation, a malformed data set spec,
      or a step cap for a data set the config does not evaluate.
  """
  for field in ("datasets", "methods", "checkpoints", "shots", "heads", "widths"):
    if isinstance(config[field], str) or not config[field]:
      raise ValueError(f"config.{field} must be a non-empty list, got {config[field]!r}")
  unknown = set(config.methods) - set(METHODS)
  if unknown:
    raise ValueError(f"config.methods has {sorted(unknown)}; choose from {METHODS}")
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
