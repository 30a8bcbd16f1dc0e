"""The zoo's rules with their published schedules (issue 37): a rule run with one constant
rate, chosen for 10^4 steps, is weak at 10^2, and the published rules are not run that
way. Krotov & Hopfield decay the learning rate linearly to 0 over training
(`DimaKrotov/Biological_Learning`: eps = eps0 (1 - epoch / Nep)); Sanger (1989) proves
convergence for a decaying rate, and SoftHebb (Journé et al., ICLR 2023) anneals its rate
too. `lr_schedule="linear"` gives any of the zoo's rules that decay, lr (1 - t / T) at inner
step t of a task of T steps: the rule reads the task's length (`local_rule.StepInfo.total`),
so the evaluation runs it once per horizon, told that horizon. Where the length is unknown
(0) the rate is constant.

State, where the published rule keeps some, is the rule's own (online k-means' count per
unit in `competitive.py`, BCM's running threshold in `bcm.py`).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from metaunsup import base_model, local_rule

LR_SCHEDULES = ("constant", "linear")


def lr_factor(schedule: str, info: local_rule.StepInfo) -> jax.Array | float:
  """The schedule's factor on the rule's lr at the step `info` describes.

  Args:
    schedule: one of `LR_SCHEDULES`.
    info: the step and the task's length (0: unknown).

  Returns:
    1.0 for "constant"; for "linear", float32 1 - step / total (1 where total is 0).
  """
  if schedule == "constant":
    return 1.0
  step = jnp.asarray(info.step, jnp.float32)
  total = jnp.asarray(info.total, jnp.float32)
  return jnp.where(total > 0, 1.0 - step / jnp.maximum(total, 1.0), 1.0)


@dataclasses.dataclass(frozen=True)
class ScheduledRule(local_rule.LayerwiseRule):
  """A zoo rule whose lr may follow a published schedule (`lr_schedule`, module
  docstring). Subclasses define `layer_increment` (their step, w + increment, at any lr) and
  may keep state by overriding `init_state` and `update_with_state`.

  Attributes:
    lr_schedule: "constant" (one rate at every step, as before schedules existed) or
      "linear" (lr (1 - t / T) over a task of T steps).

  Raises:
    ValueError: (one line, at construction, `check_schedule`) an unknown lr_schedule.
  """

  lr_schedule: str = dataclasses.field(default="constant", kw_only=True)
  if TYPE_CHECKING:
    lr: float  # every subclass's own field (its constant rate)

  def check_schedule(self) -> None:
    """Raise a one-line ValueError for an unknown lr_schedule (subclasses' __post_init__)."""
    if self.lr_schedule not in LR_SCHEDULES:
      raise ValueError(
        f"{self.kind} rule: lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
      )

  @abc.abstractmethod
  def layer_increment(self, w: jax.Array, x: jax.Array, lr: jax.Array | float) -> jax.Array:
    """The rule's increment on one layer at step size lr (`layer_step` is w + this at
    `self.lr`).

    Args:
      w: [in, out] the layer's weights.
      x: [B, in] the layer's input on a batch.
      lr: the step size, a float or a traced scalar.

    Returns:
      [in, out].
    """

  def init_state(self, params: base_model.BaseParams) -> Any:
    """No state (subclasses with some override this).

    Args:
      params: the fresh network (unused).

    Returns:
      None.
    """
    del params

  def reads_total(self) -> bool:
    """Whether the rate decays with the task's length ("linear")."""
    return self.lr_schedule == "linear"

  def update_with_state(
    self,
    theta: local_rule.Theta,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: Any,
    info: local_rule.StepInfo,
  ) -> tuple[base_model.BaseParams, Any]:
    """One step at the scheduled rate; with "constant", `update` itself (the rule's numbers
    as before schedules existed).

    Args:
      theta: unused ({}).
      params: the network.
      acts: its forward pass on a batch.
      state: None.
      info: the step and the task's length.

    Returns:
      (params with every W updated, state).
    """
    if self.lr_schedule == "constant":
      return self.update(theta, params, acts), state
    lr = self.lr * lr_factor(self.lr_schedule, info)
    return params.replace(
      W=[w + self.layer_increment(w, x, lr) for w, x in zip(params.W, acts.xs)]
    ), state
