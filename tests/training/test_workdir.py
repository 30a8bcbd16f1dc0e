"""A run's folder (metaunsup/training/workdir.py): the metrics log, the config check on
resume and configs written before fields were added."""

import json

import numpy as np
import pytest

from metaunsup import file_faults
from metaunsup.training import workdir as workdir_lib
from helpers import tiny_config


def test_metrics_write_null_for_nan_and_read_it_back(tmp_path):
  path = tmp_path / "metrics.jsonl"
  row = {"step": 0, "meta_loss": float("nan"), "bucket_loss": [1.0, float("inf")]}
  path.write_text(workdir_lib.metrics_line(row) + '{"step": 1, "meta_lo')  # then a torn line
  assert json.loads(workdir_lib.metrics_line(row))["meta_loss"] is None
  back = workdir_lib.read_metrics(path, below_step=10)
  assert len(back) == 1 and np.isnan(back[0]["meta_loss"])


def test_changed_config_refusal_names_the_field(tmp_path):
  workdir_lib.check_workdir_config(tmp_path, tiny_config(steps=2))
  other = tiny_config(steps=2)
  other.family.batch_sizes = (16,)
  with pytest.raises(ValueError, match=r"family\.batch_sizes \(\[32\] -> \[16\]\)") as e:
    workdir_lib.check_workdir_config(tmp_path, other)
  assert "\n" not in str(e.value)


def test_damaged_config_json_is_a_one_line_error(tmp_path):
  (tmp_path / "config.json").write_text('{"seed": 0, "fam')
  with pytest.raises(file_faults.DamagedFileError, match="config.json: damaged") as e:
    workdir_lib.check_workdir_config(tmp_path, tiny_config())
  assert "\n" not in str(e.value) and "delete it" in str(e.value)


def test_workdir_saved_before_new_config_fields_still_resumes(tmp_path):
  """A config.json written before fields were added to the default config (here the
  estimator and the objective) resumes while those fields keep their defaults."""
  config = tiny_config(steps=2)
  old = json.loads(config.to_json())
  for field in ("estimator", "objective", "init_rule"):
    del old["meta"][field]
  (tmp_path / "config.json").write_text(json.dumps(old))
  workdir_lib.check_workdir_config(tmp_path, config)
  changed = tiny_config(steps=2)
  changed.meta.estimator = "pes"
  with pytest.raises(ValueError, match=r"meta\.estimator \('truncated_bptt' -> 'pes'\)"):
    workdir_lib.check_workdir_config(tmp_path, changed)


def test_meta_loss_ends_skip_the_losses_of_skipped_steps():
  # A skipped meta-step (non-finite meta-gradient) logs a NaN loss and moves nothing: one
  # of them made a 300-step run's meta_loss_last NaN (experiments/time_aware, step 279).
  assert workdir_lib.finite_mean([1.0, float("nan"), 3.0, float("inf")]) == 2.0
  assert np.isnan(workdir_lib.finite_mean([float("nan"), None]))
