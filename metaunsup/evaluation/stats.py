"""Statistics over seeds: the mean and its standard error, per group of records."""

from __future__ import annotations

import numpy as np


def mean_sem(values) -> tuple[float, float]:
  """Mean and standard error of the mean.

  Args:
    values: [S] numbers, one per seed.

  Returns:
    (mean, sem) with sem = std (ddof=1) / sqrt(S); sem is NaN for a single value.
  """
  v = np.asarray(values, np.float64)
  sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
  return float(v.mean()), sem


def summarize_records(records: list[dict], keys: tuple) -> list[dict]:
  """Mean and standard error over seeds of every group of `keys`.

  Args:
    records: accuracy records, each a dict with the fields in `keys` and 'accuracy'.
    keys: the fields that name a group, e.g. ('dataset', 'method', 'step', 'shots', 'head').

  Returns:
    One dict per group, sorted by the group's values: the `keys` fields, 'mean', 'sem' and
    'n' (the number of records averaged).
  """
  groups: dict = {}
  for r in records:
    groups.setdefault(tuple(r[k] for k in keys), []).append(r["accuracy"])
  out = []
  for group, accs in sorted(groups.items(), key=lambda g: tuple(map(str, g[0]))):
    mean, sem = mean_sem(accs)
    out.append(dict(zip(keys, group), mean=mean, sem=sem, n=len(accs)))
  return out
