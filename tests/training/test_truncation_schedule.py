"""Truncation lengths (metaunsup/training/truncation_schedule.py)."""

from metaunsup.training import truncation_schedule


def test_truncation_length_is_one_of_the_lengths_and_repeats_per_step():
  ks = [truncation_schedule.truncation_length(0, step, (5, 10)) for step in range(200)]
  assert set(ks) == {5, 10}
  assert ks == [truncation_schedule.truncation_length(0, step, (5, 10)) for step in range(200)]
  assert ks != [truncation_schedule.truncation_length(1, step, (5, 10)) for step in range(200)]
