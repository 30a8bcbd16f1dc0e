"""Up-front validation of a meta-training config: one-line errors that name the field and
the fix, raised before anything is compiled."""
from __future__ import annotations

from metaunsup import base_model, data

REQUIRED = {
    "data": ("name", "image_size", "fallback"),
    "model": ("widths", "activation", "permute_inputs"),
    "inner": ("num_tasks", "batch_size", "truncation_lengths", "min_total_steps",
              "max_total_steps", "reference_batch"),
    "heads": ("shots", "query_per_class", "ridge_lambda"),
    "meta": ("steps", "learning_rate", "clip_norm", "max_consecutive_skips",
             "checkpoint_every"),
    "eval": ("num_seeds", "inner_steps", "batch_size", "query_size", "widths", "heads"),
}


def _positive_int(value, name: str, minimum: int = 1) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f"config.{name} must be an integer >= {minimum}, got {value!r}")


def _positive(value, name: str) -> None:
  if not isinstance(value, (int, float)) or not value > 0:
    raise ValueError(f"config.{name} must be a positive number, got {value!r}")


def validate(config) -> None:
  if "seed" not in config:
    raise ValueError("config.seed is missing; add an integer seed")
  _positive_int(config.seed, "seed", 0)
  for section, fields in REQUIRED.items():
    if section not in config:
      raise ValueError(f"config.{section} is missing; start from experiments/configs/default.py")
    for field in fields:
      if field not in config[section]:
        raise ValueError(f"config.{section}.{field} is missing; see "
                         "experiments/configs/default.py for its meaning and default")
  if config.data.name not in data.LOADERS:
    raise ValueError(f"config.data.name={config.data.name!r} is unknown; "
                     f"available: {sorted(data.LOADERS)}")
  if config.model.activation not in base_model.ACTIVATIONS:
    raise ValueError(f"config.model.activation={config.model.activation!r} is unknown; "
                     f"choose one of {sorted(base_model.ACTIVATIONS)}")
  for i, w in enumerate(config.model.widths):
    _positive_int(w, f"model.widths[{i}]")
  for name in ("num_tasks", "min_total_steps", "max_total_steps", "reference_batch"):
    _positive_int(config.inner[name], f"inner.{name}")
  _positive_int(config.inner.batch_size, "inner.batch_size", 2)
  if not isinstance(config.inner.get("remat", False), bool):
    raise ValueError(f"config.inner.remat must be True or False, got {config.inner.remat!r}")
  if not config.inner.truncation_lengths:
    raise ValueError("config.inner.truncation_lengths must list at least one length")
  for k in config.inner.truncation_lengths:
    _positive_int(k, "inner.truncation_lengths[...]")
  _positive_int(config.heads.shots, "heads.shots")
  _positive_int(config.heads.query_per_class, "heads.query_per_class")
  _positive(config.heads.ridge_lambda, "heads.ridge_lambda")
  _positive_int(config.meta.steps, "meta.steps")
  _positive(config.meta.learning_rate, "meta.learning_rate")
  _positive(config.meta.clip_norm, "meta.clip_norm")
  _positive_int(config.meta.max_consecutive_skips, "meta.max_consecutive_skips")
  _positive_int(config.meta.checkpoint_every, "meta.checkpoint_every")
  _positive_int(config.eval.num_seeds, "eval.num_seeds")
  _positive_int(config.eval.inner_steps, "eval.inner_steps", 0)
  _positive_int(config.eval.batch_size, "eval.batch_size", 2)
  _positive_int(config.eval.query_size, "eval.query_size")
  for h in config.eval.heads:
    if h not in ("ridge", "logistic"):
      raise ValueError(f"config.eval.heads has {h!r}; use 'ridge' and/or 'logistic'")
