import ml_collections
import pytest

from metaunsup.configs import eval_quick
from metaunsup.evaluation import config_checks


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("methods", ("rule", "sgd"), "config.methods has"),
    ("shots", (0, 10), "config.shots must hold integers >= 1"),
    ("datasets", ("mnist@big",), "malformed"),
    ("activation", "gelu", "unknown activation"),
    ("heads", ("svm",), "config.heads must be a subset"),
  ],
)
def test_bad_config_values_are_one_line_errors(field, value, match):
  config = eval_quick.get_config()
  config[field] = value
  with pytest.raises(ValueError, match=match):
    config_checks.check_config(config)


def test_a_partial_config_is_completed_from_the_default_once():
  """Fields a config lacks (written before they existed) take their default values, section
  by section; the config passed in is not changed."""
  c = eval_quick.get_config().to_dict()
  del c["local_rules"], c["report_step"], c["sweep"]["head"]
  partial = ml_collections.ConfigDict(c)
  config_checks.check_config(partial)
  done = config_checks.complete(partial)
  assert done.local_rules.to_dict() == {} and done.report_step is None
  assert done.sweep.head == "ridge" and done.sweep.steps == 20  # its own value kept
  assert "local_rules" not in partial and "head" not in partial.sweep
