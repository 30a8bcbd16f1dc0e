"""TensorBoard event files and the curves figure of a meta-training run."""

import numpy as np
import pytest

from helpers import read_scalars
from metaunsup import monitoring


def rows(steps):
  return [
    {
      "step": s,
      "meta_loss": 2.0 - 0.1 * s,
      "query_accuracy": 0.2 + 0.01 * s,
      "grad_norm": 1.0,
      "truncation": 5,
      "bucket_loss": [1.0, 3.0 - s],
    }
    for s in steps
  ]


def test_writer_logs_every_metric_per_step_and_resumes(tmp_path):
  w = monitoring.MetricsWriter(tmp_path)
  for r in rows(range(3)):
    w.write(r)
  w.close()
  w = monitoring.MetricsWriter(tmp_path, start=2)  # resumed at step 2
  for r in rows(range(2, 5)):
    w.write(r)
  w.close()
  scalars = read_scalars(tmp_path / monitoring.TENSORBOARD_DIR)
  assert sorted(scalars["meta/meta_loss"]) == [0, 1, 2, 3, 4]
  np.testing.assert_allclose(scalars["meta/query_accuracy"][4], 0.24, rtol=1e-6)
  np.testing.assert_allclose(scalars["bucket_loss/1"][3], 0.0, atol=1e-6)


def test_disabled_writer_writes_nothing(tmp_path):
  w = monitoring.MetricsWriter(tmp_path, enabled=False)
  w.write(rows([0])[0])
  w.close()
  assert not (tmp_path / monitoring.TENSORBOARD_DIR).exists()


def test_curves_figure(tmp_path):
  monitoring.write_curves(rows(range(30)), tmp_path)
  png = (tmp_path / monitoring.CURVES_FILE).read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
  with pytest.raises(ValueError, match="no meta-steps"):
    monitoring.plot_curves([])
  np.testing.assert_allclose(monitoring.smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
