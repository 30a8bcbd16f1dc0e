"""Argument checks the gradient-trained baselines share: one-line errors naming the fix."""
from __future__ import annotations

import numpy as np

from metaunsup import base_model


def is_int(v) -> bool:
  return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_differentiable(activation: str) -> None:
  base_model.get_activation(activation)
  if activation == "step":
    raise ValueError("activation 'step' has zero gradient everywhere; backprop baselines "
                     "need a differentiable activation")
