"""A base network trained by a learned rule on unlabeled data (the inner loop of Metz et al.,
ICLR 2019, run outside meta-training), and the features it gives. `metaunsup.apply_rule` and
the evaluation call this; it needs only the core (rule_files, inner, base_model)."""
from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, inner, preprocess
from metaunsup.rule_files import Rule


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A base network trained by a rule. `features` uses batch-norm statistics gathered on
  the unlabeled training data, so any batch size (one example included) works.

  Attributes:
    params: the base network's weights (`base_model.BaseParams`).
    stats: per-layer batch-norm statistics of the reference data.
    activation: the network's activation name.
  """
  params: base_model.BaseParams
  stats: list
  activation: str

  @classmethod
  def from_reference(cls, params: base_model.BaseParams, x_ref, activation: str):
    """A trained network whose features normalise with the statistics of `x_ref`.

    Args:
      params: the base network's weights, input width D.
      x_ref: reference examples [N, D] (unlabeled training data).
      activation: the network's activation name.

    Returns:
      TrainedModel.
    """
    return cls(params=params, stats=_features_stats(params, jnp.asarray(x_ref), activation),
               activation=activation)

  def features(self, x) -> np.ndarray:
    """The top-layer representation of `x`.

    Args:
      x: examples [N, D], D the network's input width.

    Returns:
      features [N, F] (float32 numpy), F the top layer's width.

    Raises:
      ValueError: x is not 2-D, has another width, or holds NaN or inf.
    """
    x = check_inputs(x, "x", self.params.input_dim)
    return np.asarray(_features(self.params, jnp.asarray(x), self.stats, self.activation))


@functools.partial(jax.jit, static_argnames="activation")
def _features(params, x, stats, activation):
  return base_model.features(params, x, activation, stats)


def check_inputs(x, name: str, dim: int | None = None) -> np.ndarray:
  """Examples as a finite float32 matrix, or a one-line error.

  Args:
    x: examples [N, D], array-like.
    name: the argument's name, for the message.
    dim: the width D the model expects (None: any).

  Returns:
    x as float32 numpy [N, D].

  Raises:
    ValueError: x is not 2-D, has another width than `dim`, or holds NaN or inf.
  """
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D array [examples, features], got shape {x.shape}; "
                     "flatten images first")
  if dim is not None and x.shape[1] != dim:
    raise ValueError(f"{name} has {x.shape[1]} features, the model expects {dim}")
  return preprocess.finite_float32(x, name)


def integer(value, name: str, minimum: int | None) -> int:
  """A count as an int, or a one-line error (a float or string count would reach a Python
  loop or jax.random as the wrong type; a zero chunk would loop forever).

  Args:
    value: the count (a Python or numpy integer; bool is refused).
    name: the argument's name, for the message.
    minimum: the smallest allowed value (None: no bound).

  Returns:
    value as int.

  Raises:
    ValueError: value is not an integer, or below `minimum`.
  """
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or (minimum is not None and value < minimum)):
    raise ValueError(f"{name} must be an integer" + (f" >= {minimum}" if minimum is not None
                                                      else "") + f", got {value!r}")
  return int(value)


def apply_rule(rule_: Rule, x_unlabeled, *, widths: Sequence[int] = (128, 128, 128, 128, 32),
               activation: str = "relu", steps: int = 1000, batch_size: int = 128,
               seed: int = 0, permute_inputs: bool = True, chunk: int = 100) -> TrainedModel:
  """Train a fresh base network on unlabeled data with the rule alone (no labels, no
  backprop), as the inner loop of Metz et al., ICLR 2019.

  Args:
    rule_: the Rule (from `load_rule`).
    x_unlabeled: unlabeled examples [N, D], N >= 2.
    widths: layer widths of the base network.
    activation: its activation (`base_model.ACTIVATIONS`).
    steps: inner steps of the rule; 0 returns the randomly initialised network of this seed
      (the baseline).
    batch_size: examples per inner step, in [2, N].
    seed: PRNG seed of the initialisation, the batches and the reference sample.
    permute_inputs: permute the input units at initialisation (as in meta-training).
    chunk: inner steps per jitted call (compiles once per chunk length).

  Returns:
    TrainedModel whose batch norm uses the statistics of up to 1024 examples of x_unlabeled.

  Raises:
    TypeError: rule_ is not a Rule.
    ValueError: x_unlabeled is not 2-D or not finite, is too large for float32 batch norm
      (`preprocess.check_network_range`), has fewer than 2 examples, or a count (steps,
      chunk, batch_size, seed) is not an integer in range.
  """
  if not isinstance(rule_, Rule):
    raise TypeError(f"apply_rule takes a metaunsup.Rule (from metaunsup.load_rule), got "
                    f"{type(rule_).__name__}")
  x = check_inputs(x_unlabeled, "x_unlabeled")
  preprocess.check_network_range(x, "x_unlabeled")
  steps, chunk = integer(steps, "steps", 0), integer(chunk, "chunk", 1)
  batch_size, seed = integer(batch_size, "batch_size", 2), integer(seed, "seed", None)
  if len(x) < 2:
    raise ValueError(f"x_unlabeled needs at least 2 examples (batch norm), got {len(x)}")
  if not 2 <= batch_size <= len(x):
    raise ValueError(f"batch_size must be in [2, {len(x)}] (the number of examples), "
                     f"got {batch_size}")
  cfg = inner.InnerConfig(rule=rule_.config, widths=tuple(int(w) for w in widths),
                          activation=activation, batch_size=int(batch_size),
                          permute_inputs=permute_inputs)
  key_init, key_ref = jax.random.split(jax.random.PRNGKey(seed))
  state = inner.init_task(key_init, x.shape[1], cfg)
  data = inner.unlabeled_data(x)
  done = 0
  while done < steps:
    k = min(chunk, steps - done)
    state = inner.jitted_unroll(rule_.theta, cfg, state, data, k)
    done += k
  ref = x[np.asarray(jax.random.choice(key_ref, len(x), (min(len(x), 1024),), replace=False))]
  return TrainedModel.from_reference(state.params, ref, activation)


@functools.partial(jax.jit, static_argnames="activation")
def _features_stats(params, x, activation):
  return base_model.apply(params, x, activation).stats
