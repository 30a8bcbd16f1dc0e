"""Argument checks the gradient-trained baselines share: one-line errors naming the fix."""
from __future__ import annotations

import numpy as np

from metaunsup import base_model


def is_int(v) -> bool:
  """Whether v is an integer (Python or numpy), not a bool.

  Args:
    v: any value.

  Returns:
    True for int and numpy integers, False for bool and everything else.
  """
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_differentiable(activation: str) -> None:
  """Checks that backprop can train a network with this activation.

  Args:
    activation: an activation name of `base_model.get_activation`.

  Raises:
    ValueError: (one line) for an unknown activation, or 'step' (zero gradient).
  """
  base_model.get_activation(activation)
  if activation == "step":
    raise ValueError("activation 'step' has zero gradient everywhere; backprop baselines "
                     "need a differentiable activation")
