"""Up-front validation of a meta-training config (`metaunsup.configs.default`'s fields):
one-line errors that name the field and the fix, raised before anything is compiled."""

from __future__ import annotations

import json
import math

from metaunsup import base_model, checks, preprocess
from metaunsup.configs import default as default_config
from metaunsup.conv import network as conv_network
from metaunsup.heads import READOUT_SCALINGS

# Fields added to the default config after configs were first written: `complete` fills
# them in from `default_config` (whose value reproduces the code from before the field
# existed), so older configs still run; not required. `rule` is read by the rule's
# `from_dict`, which fills in its own defaults.
OPTIONAL = {
  "rule": None,  # the whole section
  "family": ("activation_per_task", "conv_networks"),
  "inner": ("remat", "advance_steps"),
  "heads": ("readout_scaling",),
  "meta": (
    "estimator",
    "es_sigma",
    "es_pairs",
    "es_clip",
    "objective",
    "objective_points",
    "worsening_penalty",
    "init_rule",
  ),
  "validation": ("every", "inner_steps", "tasks_per_dataset", "query_per_class", "networks"),
  "eval": ("conv_layers",),
}
# Sections added whole: a config without one gets it at the default config's values but
# for these, which reproduce the code from before it (no validation curve, and so no
# examples set aside from meta-training's pools).
ADDED_SECTIONS = {"validation": {"every": 0}}


def required_fields() -> dict[str, tuple[str, ...]]:
  """Every section of the default config and its fields, less those in OPTIONAL.

  Returns:
    {section: field names}, sections and fields in sorted order.
  """
  out = {}
  for section, fields in json.loads(default_config.get_config().to_json()).items():
    optional = OPTIONAL.get(section, ())
    if isinstance(fields, dict) and optional is not None:
      out[section] = tuple(f for f in fields if f not in optional)
  return out


def complete(config):
  """The config with every OPTIONAL field it lacks at its `default_config` value: done once
  where a config enters (`train.train_and_evaluate`, `validate`), so code reads fields,
  never `get(field, default)`. Old config.json files are completed the same way
  (`training.workdir._with_added_fields`).

  Args:
    config: an ml_collections.ConfigDict shaped as `metaunsup.configs.default.get_config()`,
      possibly written before some OPTIONAL fields existed.

  Returns:
    A completed copy (the argument is not changed); a missing section stays missing, for
    `validate` to name, except those of ADDED_SECTIONS, added at their values.
  """
  out = config.copy_and_resolve_references()
  defaults = default_config.get_config()
  with out.unlocked():
    for section, values in ADDED_SECTIONS.items():
      if section not in out:
        out[section] = dict(defaults[section].to_dict(), **values)
    for section, fields in OPTIONAL.items():
      if fields is None or section not in out:
        continue
      for field in fields:
        if field not in out[section]:
          out[section][field] = defaults[section][field]
  return out


def _positive_int(value, name: str, minimum: int = 1) -> None:
  checks.integer(value, f"config.{name}", minimum)


def _positive(value, name: str) -> None:
  # inf passes `> 0` and would turn theta or the data into NaN a few steps later.
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
    raise ValueError(f"config.{name} must be a positive, finite number, got {value!r}")


def _activation(name, field: str) -> None:
  if name not in base_model.ACTIVATIONS:
    raise ValueError(
      f"config.{field}={name!r} is unknown; choose one of {sorted(base_model.ACTIVATIONS)}"
    )


def _nonempty(values, field: str) -> None:
  if isinstance(values, str) or not values:
    raise ValueError(f"config.{field} must be a non-empty list, got {values!r}")


def _check_family(fam, heads) -> None:
  _nonempty(fam.datasets, "family.datasets")
  for field in ("image_sizes", "depths", "widths", "activations", "batch_sizes"):
    _nonempty(fam[field], f"family.{field}")
  for s in fam.image_sizes:
    if s not in preprocess.IMAGE_SIZES:
      raise ValueError(f"config.family.image_sizes has {s!r}; choose from {preprocess.IMAGE_SIZES}")
  for a in fam.activations:
    _activation(a, "family.activations[...]")
  checks.widths(fam.widths, "config.family.widths")
  for v in fam.depths:
    _positive_int(v, "family.depths[...]")
  for b in fam.batch_sizes:
    _positive_int(b, "family.batch_sizes[...]", 2)
  for field in ("feature_width", "num_buckets", "tasks_per_bucket"):
    _positive_int(fam[field], f"family.{field}")
  need = heads.shots + heads.query_per_class
  _positive_int(fam.pool_per_class, "family.pool_per_class", need)
  _positive(fam.cache_mb, "family.cache_mb")
  for kind in fam.augment:
    if kind not in preprocess.AUGMENTATIONS:
      raise ValueError(
        f"config.family.augment has {kind!r}; choose from {preprocess.AUGMENTATIONS}"
      )
  for field in ("max_shift", "max_rotation", "max_noise"):
    _positive(fam[field], f"family.{field}")
  if isinstance(fam.conv_networks, str):
    raise ValueError(
      "config.family.conv_networks must be a list of layer descriptions such as "
      f"('conv5x5:16 pool2 dense:32',), got the string {fam.conv_networks!r}"
    )
  for spec in fam.conv_networks:
    for size in fam.image_sizes:
      _check_conv(spec, size, "family.conv_networks", "family.image_sizes")
  if not isinstance(fam.activation_per_task, bool):
    raise ValueError(
      f"config.family.activation_per_task must be True or False, got {fam.activation_per_task!r}"
    )


def _check_long_horizon(meta, inner) -> None:
  """Estimator, objective, advance and warm-start fields (completed: `complete`)."""
  from metaunsup import estimators  # the estimators import the inner problem; keep this light

  if meta.estimator not in estimators.names():
    raise ValueError(
      f"config.meta.estimator={meta.estimator!r} is unknown; choose one of "
      f"{estimators.names()} (an estimator of your own must be imported, and "
      "so registered, first)"
    )
  _positive(meta.es_sigma, "meta.es_sigma")
  _positive_int(meta.es_pairs, "meta.es_pairs")
  if (
    isinstance(meta.es_clip, bool)
    or not isinstance(meta.es_clip, (int, float))
    or not meta.es_clip >= 0
  ):
    raise ValueError(f"config.meta.es_clip must be >= 0 (0: no clipping), got {meta.es_clip!r}")
  if meta.objective not in estimators.OBJECTIVES:
    raise ValueError(
      f"config.meta.objective={meta.objective!r} is unknown; choose one of {estimators.OBJECTIVES}"
    )
  if meta.objective == "mean_over_truncation":
    _positive_int(meta.objective_points, "meta.objective_points")
    if meta.objective_points > min(inner.truncation_lengths):
      raise ValueError(
        f"config.meta.objective_points={meta.objective_points} exceeds the "
        f"shortest truncation ({min(inner.truncation_lengths)} steps); use at "
        "most that many points"
      )
  penalty = meta.worsening_penalty
  if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty >= 0:
    raise ValueError(f"config.meta.worsening_penalty must be >= 0, got {penalty!r}")
  _positive_int(inner.advance_steps, "inner.advance_steps", 0)
  if not isinstance(meta.init_rule, str):
    raise ValueError(f"config.meta.init_rule must be a path (or \"\"), got {meta.init_rule!r}")


def eval_seeds(config) -> list[int]:
  """The seeds of the run's held-out evaluation (`workdir.heldout_eval`), derived from
  config.seed so that runs of other seeds are evaluated on other networks and readouts.

  Args:
    config: a meta-training config (reads seed and eval.num_seeds).

  Returns:
    eval.num_seeds seeds, 1000 + 100 seed + i.
  """
  return [1000 + config.seed * 100 + i for i in range(config.eval.num_seeds)]


def _check_conv(spec: str, image_size: int, field: str, sizes: str = "eval.image_size") -> None:
  """A conv network's description (`conv.layers.FORMS`, entries separated by spaces) that
  fits one-channel images of image_size, or a one-line error naming the field."""
  try:
    conv_network.architecture(str(spec).split(), (image_size, image_size, 1))
  except ValueError as e:
    raise ValueError(
      f"config.{field} has {spec!r}, which does not work on the {image_size}x{image_size} "
      f"images of config.{sizes}: {e}"
    ) from None


def _check_validation(val, image_size: int) -> None:
  """The validation curve's fields (completed: `complete`); conv networks must fit the
  evaluation's images."""
  _positive_int(val.every, "validation.every", 0)
  steps = val.inner_steps
  if isinstance(steps, (str, int)) or not steps:
    raise ValueError(f"config.validation.inner_steps must be a non-empty list, got {steps!r}")
  for n in steps:
    _positive_int(n, "validation.inner_steps[...]")
  if list(steps) != sorted(set(steps)):
    raise ValueError(f"config.validation.inner_steps must be increasing, got {tuple(steps)}")
  _positive_int(val.tasks_per_dataset, "validation.tasks_per_dataset")
  _positive_int(val.query_per_class, "validation.query_per_class")
  if isinstance(val.networks, str):
    raise ValueError(
      f"config.validation.networks must be a list of 'ACTIVATION:W1-...-WL', got {val.networks!r}"
    )
  from metaunsup.training import validation  # the validation tasks import the task family

  for spec in val.networks:
    if validation.parse_network(spec).layers:
      _check_conv(spec.partition(":")[2], image_size, f"validation.networks ({spec!r})")


def validate(config) -> None:
  """Check a meta-training config before anything runs.

  Args:
    config: an ml_collections.ConfigDict shaped as `metaunsup.configs.default.get_config()`;
      OPTIONAL fields it lacks are checked at their defaults (`complete`).

  Raises:
    ValueError: one line naming the first missing field or bad value and the fix.
  """
  config = complete(config)
  if "seed" not in config:
    raise ValueError("config.seed is missing; add an integer seed")
  checks.seed(config.seed, "config.seed")
  for section, fields in required_fields().items():
    if section not in config:
      raise ValueError(f"config.{section} is missing; start from metaunsup/configs/default.py")
    for field in fields:
      if field not in config[section]:
        raise ValueError(
          f"config.{section}.{field} is missing; see "
          "metaunsup/configs/default.py for its meaning and default"
        )
  _check_family(config.family, config.heads)
  for name in ("min_total_steps", "max_total_steps", "reference_batch"):
    _positive_int(config.inner[name], f"inner.{name}")
  if not isinstance(config.inner.remat, bool):
    raise ValueError(f"config.inner.remat must be True or False, got {config.inner.remat!r}")
  if not config.inner.truncation_lengths:
    raise ValueError("config.inner.truncation_lengths must list at least one length")
  for k in config.inner.truncation_lengths:
    _positive_int(k, "inner.truncation_lengths[...]")
  _positive_int(config.heads.shots, "heads.shots")
  _positive_int(config.heads.query_per_class, "heads.query_per_class")
  _positive(config.heads.ridge_lambda, "heads.ridge_lambda")
  if config.heads.readout_scaling not in READOUT_SCALINGS:
    raise ValueError(
      f"config.heads.readout_scaling={config.heads.readout_scaling!r} is unknown; "
      f"choose one of {READOUT_SCALINGS}"
    )
  _positive_int(config.meta.steps, "meta.steps")
  _positive(config.meta.learning_rate, "meta.learning_rate")
  _positive(config.meta.clip_norm, "meta.clip_norm")
  _positive_int(config.meta.max_consecutive_skips, "meta.max_consecutive_skips")
  _positive_int(config.meta.checkpoint_every, "meta.checkpoint_every")
  _check_long_horizon(config.meta, config.inner)
  _check_validation(config.validation, config.eval.image_size)
  if not config.eval.datasets:
    raise ValueError("config.eval.datasets must name at least one data set")
  if config.eval.image_size not in preprocess.IMAGE_SIZES:
    raise ValueError(
      f"config.eval.image_size must be one of {preprocess.IMAGE_SIZES}, "
      f"got {config.eval.image_size!r}"
    )
  _activation(config.eval.activation, "eval.activation")
  checks.widths(config.eval.widths, "config.eval.widths")
  if not isinstance(config.eval.conv_layers, str):
    raise ValueError(
      "config.eval.conv_layers must be a layer description such as 'conv5x5:16 pool2 "
      f"dense:32' (or \"\" for the MLP of eval.widths), got {config.eval.conv_layers!r}"
    )
  if config.eval.conv_layers:
    _check_conv(config.eval.conv_layers, config.eval.image_size, "eval.conv_layers")
  _positive_int(config.eval.num_seeds, "eval.num_seeds")
  if eval_seeds(config)[-1] > checks.SEED_RANGE[1]:
    raise ValueError(
      f"config.seed={config.seed} is too large: its evaluation seeds "
      f"(1000 + 100 seed + i) reach {eval_seeds(config)[-1]}, beyond the "
      "PRNG's 2**32 - 1"
    )
  _positive_int(config.eval.inner_steps, "eval.inner_steps", 0)
  _positive_int(config.eval.batch_size, "eval.batch_size", 2)
  _positive_int(config.eval.query_size, "eval.query_size")
  for h in config.eval.heads:
    if h not in ("ridge", "logistic"):
      raise ValueError(f"config.eval.heads has {h!r}; use 'ridge' and/or 'logistic'")
