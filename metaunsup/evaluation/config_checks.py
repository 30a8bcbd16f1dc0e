"""Validation of an evaluation config (`metaunsup/configs/eval_full.py` and the other
eval_*.py built on it): one-line errors naming the field and the fix, before any data is
loaded or any program compiled."""

from __future__ import annotations

import ml_collections

from metaunsup import base_model, checks
from metaunsup.configs import eval_full
from metaunsup.evaluation import methods as methods_lib
from metaunsup.evaluation.data_specs import DataSpec
from metaunsup.evaluation.protocol import HEADS


def seeds(config) -> list[int]:
  """The evaluation's seeds, one per config.num_seeds, derived from config.seed.

  Args:
    config: the evaluation config (reads seed and num_seeds).

  Returns:
    num_seeds seeds, 1000 seed + i.
  """
  return [int(config.seed) * 1000 + i for i in range(config.num_seeds)]


def check_config(config) -> None:
  """Checks an evaluation config's fields.

  Args:
    config: the evaluation config (`ml_collections.ConfigDict`, the fields of
      `metaunsup.configs.eval_full.get_config()`; those it lacks are checked at
      their defaults, `complete`).

  Raises:
    ValueError: (one line) for an empty or string-valued list, an unknown method (not in
      the registry of `methods.py`, nor "local:KIND" for a registered local rule) or head,
      a config.local_rules entry that is not a registered rule kind or has a bad field, a
      non-integer or too-small count, an unknown activation, a malformed data set spec, or
      a step cap for a data set the config does not evaluate.
  """
  config = complete(config)
  for field in ("datasets", "methods", "checkpoints", "shots", "heads", "widths"):
    if isinstance(config[field], str) or not config[field]:
      raise ValueError(f"config.{field} must be a non-empty list, got {config[field]!r}")
  for method in config.methods:
    methods_lib.get(method)
  kinds = set(config.local_rules) | {
    kind for m in config.methods if (kind := methods_lib.local_kind(m)) is not None
  }
  for kind in sorted(kinds):
    try:
      methods_lib.local_rule_config(config, kind)
    except (ValueError, TypeError) as e:
      raise ValueError(f"config.local_rules[{kind!r}]: {e}") from None
  for kind in sorted(config.local_rules_by_steps):
    try:
      methods_lib.local_rule_configs_by_steps(config, kind)
    except (ValueError, TypeError) as e:
      raise ValueError(f"config.local_rules_by_steps[{kind!r}]: {e}") from None
  if set(config.heads) - set(HEADS):
    raise ValueError(f"config.heads must be a subset of {HEADS}, got {tuple(config.heads)}")
  for field, low in (("checkpoints", 0), ("shots", 1)):
    if not all(checks.is_int(v) and v >= low for v in config[field]):
      raise ValueError(f"config.{field} must hold integers >= {low}, got {tuple(config[field])}")
  checks.widths(config.widths, "config.widths")
  for field, low in (
    ("num_seeds", 1),
    ("batch_size", 2),
    ("query_size", 1),
    ("reference_batch", 2),
  ):
    checks.integer(config[field], f"config.{field}", low)
  checks.seed(config.seed, "config.seed")
  if seeds(config)[-1] > checks.SEED_RANGE[1]:
    raise ValueError(
      f"config.seed={config.seed} is too large: its seeds (1000 seed + i) "
      f"reach {seeds(config)[-1]}, beyond the PRNG's 2**32 - 1"
    )
  base_model.get_activation(config.activation)
  for spec in config.datasets:
    DataSpec.parse(spec)
  for spec, cap in config.step_caps.items():
    if spec not in config.datasets or isinstance(cap, bool) or not isinstance(cap, int):
      raise ValueError(
        f"config.step_caps[{spec!r}] = {cap!r}: keys must be entries of "
        "config.datasets and values integer step counts"
      )
  if config.sweep.enabled:
    DataSpec.parse(config.sweep.dataset)
    for a in config.sweep.activations:
      base_model.get_activation(a)


def complete(config) -> ml_collections.ConfigDict:
  """The config with every field it lacks at its value in `get_config()` (sections field
  by field), so code reads fields, never `get(field, default)`.

  Args:
    config: an evaluation config (`ml_collections.ConfigDict`), possibly partial.

  Returns:
    A completed copy; the argument is not changed. A field of the defaults' own maps of
    user entries (local_rules, step_caps) is never added to.
  """
  out = config.copy_and_resolve_references()
  with out.unlocked():
    _fill(out, eval_full.get_config())
  return out


def _fill(node, defaults) -> None:
  for field in defaults:
    if field not in node:
      node[field] = defaults[field]
    elif isinstance(defaults[field], ml_collections.ConfigDict) and isinstance(
      node[field], ml_collections.ConfigDict
    ):
      _fill(node[field], defaults[field])
