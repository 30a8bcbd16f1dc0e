"""Meta-gradient estimators (`meta.estimator`), one per file, as learned_optimization's
outer_trainers: the only place that knows how a meta-gradient is formed."""
from __future__ import annotations

from metaunsup.estimators import base
from metaunsup.estimators.base import (MetaGradient, Objective, Truncation, inner_truncation,
                                       reset)
from metaunsup.estimators.es import AntitheticES
from metaunsup.estimators.pes import PES, PESState
from metaunsup.estimators.truncated_bptt import TruncatedBPTT

NAMES = ("truncated_bptt", "pes", "es")


def from_config(meta) -> TruncatedBPTT | PES | AntitheticES:
  """The estimator `meta.estimator` names, with `meta.es_sigma`, `meta.es_pairs` and
  `meta.es_clip` for the two ES estimators.

  Args:
    meta: `config.meta`.

  Returns:
    The estimator (frozen dataclass, a static argument of the jitted meta-step).

  Raises:
    ValueError: an unknown estimator name.
  """
  name = meta.get("estimator", "truncated_bptt")
  if name == "truncated_bptt":
    return TruncatedBPTT()
  kwargs = {field: cast(meta[f"es_{field}"]) for field, cast in
            (("sigma", float), ("pairs", int), ("clip", float)) if f"es_{field}" in meta}
  if name == "pes":
    return PES(**kwargs)
  if name == "es":
    return AntitheticES(**kwargs)
  raise ValueError(f"config.meta.estimator={name!r} is unknown; choose one of {NAMES}")


def truncated_bptt_gradient(theta, cfg, states, data, k: int) -> MetaGradient:
  """Today's meta-gradient on the inner problem alone (k scored steps, no advance):
  truncated BPTT over tasks [T]. For tests and benchmarks.

  Args:
    theta: meta-parameters.
    cfg: the tasks' InnerConfig.
    states: task states [T].
    data: each task's data [T].
    k: inner steps.

  Returns:
    MetaGradient.
  """
  return TruncatedBPTT().estimate(theta, (), states, data, None, inner_truncation(cfg, k))


OBJECTIVES = ("final", "mean_over_truncation")


def objective_from_config(meta) -> Objective:
  """`meta.objective` ("final": the meta-loss after the truncation; "mean_over_truncation":
  its mean over `meta.objective_points` points of it) and `meta.worsening_penalty`.

  Args:
    meta: `config.meta`.

  Returns:
    Objective.

  Raises:
    ValueError: an unknown objective name.
  """
  name = meta.get("objective", "final")
  if name not in OBJECTIVES:
    raise ValueError(f"config.meta.objective={name!r} is unknown; choose one of {OBJECTIVES}")
  points = int(meta.get("objective_points", 1)) if name == "mean_over_truncation" else 1
  return Objective(points=points, worsening=float(meta.get("worsening_penalty", 0.0)))
