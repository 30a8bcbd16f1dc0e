import pytest

from experiments.configs import eval_quick
from metaunsup.evaluation import config_checks


@pytest.mark.parametrize("field,value,match", [
    ("methods", ("rule", "sgd"), "config.methods has"),
    ("shots", (0, 10), "config.shots must hold integers >= 1"),
    ("datasets", ("mnist@big",), "malformed"),
    ("activation", "gelu", "unknown activation"),
    ("heads", ("svm",), "config.heads must be a subset"),
])
def test_bad_config_values_are_one_line_errors(field, value, match):
  config = eval_quick.get_config()
  config[field] = value
  with pytest.raises(ValueError, match=match):
    config_checks.check_config(config)
