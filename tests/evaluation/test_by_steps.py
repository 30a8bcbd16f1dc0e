"""A hand-designed rule at its best per horizon in the evaluation (issue 37, item 2):
`config.local_rules_by_steps[KIND][STEPS]` runs each checkpoint named as a run of its own
from the shared init with that horizon's fields."""

import pytest

from metaunsup.configs import eval_full
from metaunsup.evaluation import config_checks, pipeline


def _config(**local):
  c = eval_full.get_config()
  c.datasets = ("digits@8",)
  c.methods = ("random_init", "local:krotov_hopfield")
  c.widths, c.checkpoints, c.shots, c.heads = (16, 8), (0, 3, 12), (5,), ("ridge",)
  c.num_seeds, c.query_size, c.reference_batch = 1, 100, 64
  c.sweep.enabled = False
  for k, v in local.items():
    c[k] = v
  return c


def _accuracies(config, out):
  results = pipeline.run("pretrained", config, out, log=lambda line: None)
  return {r["step"]: r["accuracy"] for r in results["records"] if r["method"] != "random_init"}


@pytest.mark.slow
def test_each_horizon_runs_with_its_own_fields(tmp_path):
  fast, slow = {"lr": 0.5, "lr_schedule": "linear"}, {"lr": 0.01}
  by_steps = _accuracies(
    _config(local_rules_by_steps={"krotov_hopfield": {"3": fast, "12": slow}}), tmp_path / "b"
  )
  # Each horizon from an evaluation of one rule config to that horizon alone (the same
  # init): exact, the same programs (scans of 1, 1, 1 steps; of 10, 1, 1) on the same inputs.
  at_3 = _accuracies(
    _config(local_rules={"krotov_hopfield": fast}, checkpoints=(0, 3)), tmp_path / "f"
  )
  at_12 = _accuracies(
    _config(local_rules={"krotov_hopfield": slow}, checkpoints=(0, 12)), tmp_path / "s"
  )
  assert by_steps == {0: at_3[0], 3: at_3[3], 12: at_12[12]}
  assert at_3[3] != by_steps[0]  # the rule moved the network


def test_a_bad_entry_is_a_one_line_error():
  for entry, match in [
    ({"krotov_hopfield": {"many": {"lr": 0.1}}}, "keys must be inner-step counts"),
    ({"krotov_hopfield": {"100": {"lr": 2.0}}}, "lr out of range"),
  ]:
    with pytest.raises(ValueError, match=match) as e:
      config_checks.check_config(_config(local_rules_by_steps=entry))
    assert "local_rules_by_steps['krotov_hopfield']" in str(e.value)
