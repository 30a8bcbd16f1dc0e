"""The argument check the gradient-trained baselines share beyond `metaunsup.checks`: a
network backprop can train. One-line errors naming the fix."""

from __future__ import annotations

from metaunsup import base_model


def check_differentiable(activation: str) -> None:
  """Checks that backprop can train a network with this activation.

  Args:
    activation: an activation name of `base_model.get_activation`.

  Raises:
    ValueError: (one line) for an unknown activation, or 'step' (zero gradient).
  """
  base_model.get_activation(activation)
  if activation == "step":
    raise ValueError(
      "activation 'step' has zero gradient everywhere; backprop baselines "
      "need a differentiable activation"
    )
