"""The record of one zoo term: a hand-designed rule's increment on one layer, its continuous
hyperparameters (what a learned mix may meta-learn) and its swept step size. Each zoo rule's
file holds its record beside the rule (`TERM`); `zoo.terms` orders them, and the zoo rules,
the learned rule's `zoo_terms` and the compact rule all read them from there, so a new term
is its rule's file, one line of `zoo.terms.RECORDS` and its entry in `sweep_lr.json`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp

# Each term's step size as chosen by the zoo sweep on meta-training data only (the file says
# where it comes from): the natural scale of each term, which differs by 400x between terms,
# so that a mix of terms is learned in units of it. Learned rules store their step sizes in
# these units: change a value only with a new term name.
SWEEP_LR_FILE = pathlib.Path(__file__).with_name("sweep_lr.json")


@functools.cache
def _swept_lrs() -> dict[str, float]:
  """`SWEEP_LR_FILE`'s step sizes by term, read once."""
  lrs: dict[str, float] = json.loads(SWEEP_LR_FILE.read_text())["lr"]
  return lrs


def swept_lr(term: str) -> float:
  """A term's step size from the committed sweep (`SWEEP_LR_FILE`).

  Args:
    term: a term name.

  Returns:
    The step size (float64, as stored).

  Raises:
    ValueError: the file has no step size for the term (one line naming the file).
  """
  lrs = _swept_lrs()
  if term not in lrs:
    raise ValueError(
      f"{SWEEP_LR_FILE} has no step size for the zoo term {term!r}: sweep it "
      "(python -m experiments.zoo.sweep) and add its chosen lr"
    )
  return float(lrs[term])


class Increment(Protocol):
  """A term's increment on one layer: w [in, out], x [B, in], lr a scalar (traced or not),
  hp the term's hyperparameter values by `Hyperparameter.key` (as stored: logs where `log`),
  p and k Krotov-Hopfield's static Lebesgue norm and rank; returns [in, out], so that the
  zoo rule's step at its lr is w + the increment."""

  def __call__(
    self, w: jax.Array, x: jax.Array, lr: Any, hp: dict[str, jax.Array], *, p: float, k: int
  ) -> jax.Array: ...


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
  """A continuous hyperparameter of a term, meta-learnable as a float32 scalar.

  Attributes:
    key: its entry in theta (e.g. "softhebb_log_inverse_temperature"), unique over terms.
    field: the zoo rule's field it stands for (e.g. "inverse_temperature").
    default: the zoo rule's default value of that field.
    log: stored as the log of the field's value (a value that must stay positive).
  """

  key: str
  field: str
  default: float
  log: bool = False

  def stored(self, value: float) -> jax.Array:
    """The stored form of a field value: float32 scalar, its log where `log`."""
    return jnp.asarray(math.log(value) if self.log else value, jnp.float32)

  def value(self, stored: jax.Array) -> jax.Array:
    """The field's value from its stored form (exp where `log`)."""
    return jnp.exp(stored) if self.log else stored


@dataclasses.dataclass(frozen=True)
class Term:
  """One zoo term (module docstring).

  Attributes:
    name: the term's name (`zoo.terms.TERMS`), also its key in `sweep_lr.json`.
    increment: the increment on one layer (`Increment`).
    is_rule: whether a zoo rule instance is this term (e.g. Sanger's rule with `subspace`
      is the "oja" term).
    hyperparameters: its meta-learnable hyperparameters.
    check_rule: given (zoo_rule, p, k), a one-line reason why the mixing rule's static
      settings cannot reproduce that rule, or "" (Krotov-Hopfield's p and k); None: none.
  """

  name: str
  increment: Increment
  is_rule: Callable[[Any], bool]
  hyperparameters: tuple[Hyperparameter, ...] = ()
  check_rule: Callable[[Any, float, int], str] | None = None

  @property
  def sweep_lr(self) -> float:
    """The term's unit of step size (`swept_lr`)."""
    return swept_lr(self.name)


def of_kind(kind: str) -> Callable[[Any], bool]:
  """`Term.is_rule` for a term that is every zoo rule of one kind."""
  return lambda rule: getattr(type(rule), "kind", None) == kind
