"""Validation of the meta-training config (metaunsup/training/config_checks.py): one line
naming the field, before anything runs."""

import ml_collections
import pytest

from metaunsup import configs, train
from metaunsup.configs import default as default_config
from metaunsup.training import config_checks
from helpers import tiny_config


@pytest.mark.parametrize(
  "section,field,value,match",
  [
    ("meta", "steps", 0, "meta.steps"),
    ("meta", "learning_rate", -1.0, "meta.learning_rate"),
    ("family", "batch_sizes", (1,), "family.batch_sizes"),
    ("family", "activations", ("gelu9",), "family.activations"),
    ("family", "datasets", (), "family.datasets"),
    ("family", "image_sizes", (13,), "family.image_sizes"),
    ("family", "augment", ("blur",), "family.augment"),
    ("family", "pool_per_class", 5, "family.pool_per_class"),
    ("inner", "remat", None, "inner.remat"),
    ("eval", "heads", ("knn",), "eval.heads"),
    ("eval", "activation", "gelu9", "eval.activation"),
  ],
)
def test_bad_config_values_fail_fast_with_one_line(tmp_path, section, field, value, match):
  c = tiny_config()
  c[section][field] = value
  with pytest.raises(ValueError, match=match) as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value)
  assert not (tmp_path / "checkpoints").exists()


def test_required_fields_are_the_default_config_less_the_optional_ones():
  """Derived, not hand-kept: a field added to the default config is required unless it is
  declared optional (completed from the default config, whose value reproduces the code
  before it)."""
  default = default_config.get_config()
  required = config_checks.required_fields()
  for section in default.keys():
    if not isinstance(default[section], type(default)):
      continue
    optional = config_checks.OPTIONAL.get(section, ())
    if optional is None:
      assert section not in required
      continue
    assert set(required[section]) | set(optional) == set(default[section].keys())
    assert not set(required[section]) & set(optional)
  assert required["meta"][0] == "steps" and "estimator" not in required["meta"]


@pytest.mark.parametrize("section", ["family", "inner", "heads", "meta", "eval"])
def test_every_required_field_missing_is_a_one_line_error(section):
  for field in config_checks.required_fields()[section]:
    c = default_config.get_config().to_dict()
    del c[section][field]
    with pytest.raises(ValueError, match=f"config.{section}.{field} is missing") as e:
      config_checks.validate(ml_collections.ConfigDict(c))
    assert "\n" not in str(e.value)


def test_config_without_the_optional_fields_passes():
  c = default_config.get_config().to_dict()
  for section, fields in config_checks.OPTIONAL.items():
    if fields is not None:
      for field in fields:
        del c[section][field]
  config_checks.validate(ml_collections.ConfigDict(c))


def test_complete_fills_the_optional_fields_once_from_the_default_config():
  """Code reads fields; an older config without the optional ones gets them from
  default_config (the copy), and a field it sets keeps its value."""
  from metaunsup import estimators

  c = default_config.get_config().to_dict()
  for section, fields in config_checks.OPTIONAL.items():
    for field in fields or ():
      del c[section][field]
  del c["meta"]["steps"]  # a required field stays missing, for validate to name
  old = ml_collections.ConfigDict(c)
  old.inner.truncation_lengths = (4,)
  old.lock()
  done = config_checks.complete(old)
  default = default_config.get_config()
  for section, fields in config_checks.OPTIONAL.items():
    for field in fields or ():
      assert done[section][field] == default[section][field]
      assert field not in old[section]
  assert "steps" not in done.meta and done.inner.truncation_lengths == (4,)
  assert estimators.from_config(done.meta) == estimators.TruncatedBPTT()
  assert estimators.objective_from_config(done.meta) == estimators.Objective()


@pytest.mark.parametrize("name", configs.TRAIN)
def test_every_packaged_meta_training_config_passes_the_checks(name):
  # A packaged config (the README's `train_rule("laptop")`, ...) is refused by no check.
  config_checks.validate(configs.load(name, configs.TRAIN))
