import pytest

from metaunsup.evaluation import report


def test_verdicts_follow_the_paired_difference():
  assert report.verdict(0.1, 0.02) == "**wins**"
  assert report.verdict(-0.1, 0.02) == "**loses**"
  assert report.verdict(0.01, 0.02) == "level"
  # A seed whose features went non-finite is reported, never averaged away.
  assert report._cell([0.5, float("nan")]) == "diverged"
  assert report.verdict(float("nan"), float("nan")) == "n/a (diverged)"
  assert report.paired({0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.5, 2: 0.9}) == pytest.approx((0.15, 0.05))
