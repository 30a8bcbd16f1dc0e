"""What the learned designs share to see the time (issue 37): the features tanh(t / tau - 1)
of the inner step t (learned_optimization's MLP optimizers' time inputs), the check of their
scales, and the `local_rule.HasState` methods of a rule that reads the step alone."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from metaunsup import base_model


def check_time_scales(time_scales: tuple[Any, ...], owner: str) -> tuple[float, ...]:
  """The scales tau as floats, or a one-line error.

  Args:
    time_scales: the config's value, () for a time-blind rule.
    owner: how the message names the field's owner (e.g. "compact rule: ", "rule.").

  Returns:
    tuple of floats.

  Raises:
    ValueError: repeated, non-positive or non-numeric scales.
  """
  taus = tuple(time_scales)
  if len(set(taus)) != len(taus) or not all(
    isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in taus
  ):
    raise ValueError(
      f"{owner}time_scales must be distinct positive numbers of inner steps (e.g. (10, 100, "
      f"1000, 10000)), or () for a time-blind rule; got {time_scales!r}"
    )
  return tuple(float(v) for v in taus)


def features(step: jax.Array | int, time_scales: tuple[float, ...]) -> jax.Array:
  """The time features at inner step `step`.

  Args:
    step: scalar, inner steps taken.
    time_scales: tau_1..tau_F, in inner steps.

  Returns:
    [F] float32, tanh(step / tau_f - 1).
  """
  t = jnp.asarray(step, jnp.float32)
  return jnp.tanh(t / jnp.asarray(time_scales, jnp.float32) - 1.0)


class ReadsTheStep:
  """`local_rule.HasState`'s state and length methods for a rule whose update reads the
  inner step alone: no state, never the task's length (an anytime rule)."""

  def init_state(self, params: base_model.BaseParams) -> None:
    """No state.

    Args:
      params: the fresh network (unused).

    Returns:
      None.
    """
    del params

  def reads_total(self) -> bool:
    """False: the step is read, never the task's length."""
    return False
