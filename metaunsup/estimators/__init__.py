"""Meta-gradient estimators (`meta.estimator`), one per file, as learned_optimization's
outer_trainers: the only place that knows how a meta-gradient is formed.

The registry maps `meta.estimator` to a class; `from_config`, `names` and the config check
(`training/config_checks.py`) read it. A new estimator is one file and one decorator (a
frozen dataclass with `init` and `estimate`, `base.py`'s interface)::

  @estimators.register("my_estimator")
  @dataclasses.dataclass(frozen=True)
  class MyEstimator:
    @classmethod
    def from_config(cls, meta): return cls()      # optional; default: cls()
    def init(self, theta, states): ...
    def estimate(self, theta, est_state, states, data, key, truncation): ...

A package estimator is registered below (its registry line); one of a user's registers when
its module is imported, before the config that names it is checked.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from metaunsup import registry, submodules
from metaunsup.estimators import base
from metaunsup.estimators.base import MetaGradient, Objective, Truncation, inner_truncation, reset
from metaunsup.estimators.es import AntitheticES
from metaunsup.estimators.es_single import ESSingle, ESSingleState
from metaunsup.estimators.pes import PES, PESState
from metaunsup.estimators.truncated_bptt import TruncatedBPTT

__all__ = [
  "AntitheticES",
  "ESTIMATORS",
  "ESSingle",
  "ESSingleState",
  "MetaGradient",
  "OBJECTIVES",
  "Objective",
  "PES",
  "PESState",
  "Truncation",
  "TruncatedBPTT",
  "base",
  "from_config",
  "inner_truncation",
  "names",
  "objective_from_config",
  "register",
  "reset",
  "truncated_bptt_gradient",
]

T = TypeVar("T", bound=type)

# meta.estimator -> (the class, a builder from `config.meta` to an instance of it).
ESTIMATORS: registry.Registry[tuple[type, Callable[[Any], Any]]] = registry.Registry(
  "estimator name", identity=lambda entry: entry[0].__qualname__
)


def register(name: str, from_config: Callable[[Any], Any] | None = None) -> Callable[[T], T]:
  """Class decorator: registers an estimator class under `name` (`meta.estimator`).

  Args:
    name: the registry name; letters, digits and underscores.
    from_config: builds the estimator from `config.meta`; default: the class's own
      `from_config(meta)` classmethod if it has one, else the class with no arguments.

  Returns:
    The decorator, which returns the class unchanged.

  Raises:
    ValueError: `name` is malformed or already registered to another class.
  """
  ESTIMATORS.check_name(name)

  def decorate(cls: T) -> T:
    builder = from_config or getattr(cls, "from_config", None) or (lambda meta: cls())
    ESTIMATORS.add(name, (cls, builder))
    return cls

  return decorate


def _perturbation_fields(meta) -> dict:
  # ES, PES and ES-Single share the perturbation fields; the casts keep the static argument
  # hashable and its fields of one type whatever type the config holds.
  return dict(sigma=float(meta.es_sigma), pairs=int(meta.es_pairs), clip=float(meta.es_clip))


register("truncated_bptt")(TruncatedBPTT)
register("pes", from_config=lambda meta: PES(**_perturbation_fields(meta)))(PES)
register("es", from_config=lambda meta: AntitheticES(**_perturbation_fields(meta)))(AntitheticES)
register("es_single", from_config=lambda meta: ESSingle(**_perturbation_fields(meta)))(ESSingle)


def names() -> tuple[str, ...]:
  """Every registered estimator name, in registration order (the package's first).

  Returns:
    tuple of names.
  """
  return ESTIMATORS.names()


def from_config(meta):
  """The estimator `meta.estimator` names, built by its registered builder (the ES
  estimators read `meta.es_sigma`, `meta.es_pairs` and `meta.es_clip`).

  Args:
    meta: `config.meta`, completed from the default config (`training.config_checks.complete`).

  Returns:
    The estimator (frozen dataclass, a static argument of the jitted meta-step).

  Raises:
    ValueError: an unknown estimator name.
  """
  entry = ESTIMATORS.get(meta.estimator)
  if entry is None:
    raise ValueError(
      f"config.meta.estimator={meta.estimator!r} is unknown; choose one of "
      f"{names()} (an estimator of your own must be imported, and so "
      "registered, first)"
    )
  return entry[1](meta)


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
    meta: `config.meta`, completed from the default config.

  Returns:
    Objective.

  Raises:
    ValueError: an unknown objective name.
  """
  if meta.objective not in OBJECTIVES:
    raise ValueError(
      f"config.meta.objective={meta.objective!r} is unknown; choose one of {OBJECTIVES}"
    )
  points = int(meta.objective_points) if meta.objective == "mean_over_truncation" else 1
  return Objective(points=points, worsening=float(meta.worsening_penalty))


__getattr__ = submodules.loader(__name__)
