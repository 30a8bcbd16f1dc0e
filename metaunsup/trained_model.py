"""A base network trained by a learned rule on unlabeled data (the inner loop of Metz et al.,
ICLR 2019, run outside meta-training), and the features it gives. `metaunsup.apply_rule` and
the evaluation call this; it needs only the core (rule_files, inner, base_model)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, checks, inner, preprocess
from metaunsup.rule_files import Rule, read_rule

# apply_rule's defaults: the setting the shipped rule (`metaunsup.pretrained`, its
# provenance.json) was meta-trained and evaluated in. Its meta-training unrolled tasks of
# 30 to 300 inner steps on batches of 64 (config inner.max_total_steps, family.batch_sizes),
# and its run's own held-out evaluation trained a 64-64-32 network for 300 steps on batches
# of 64 (config.eval); `make evaluate` uses the same network and batch.
DEFAULT_WIDTHS = (64, 64, 32)
DEFAULT_STEPS = 300
DEFAULT_BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A base network trained by a rule. `features` uses batch-norm statistics gathered on
  the unlabeled training data, so any batch size (one example included) works.

  Attributes:
    params: the base network's weights (`base_model.BaseParams`).
    stats: per-layer batch-norm statistics of the reference data.
    activation: the network's activation name.
    standardizer: the standardisation `features` applies to its inputs first, fitted on
      the unlabeled data (`apply_rule(standardize=True)`); None: inputs are used as given.
  """

  params: base_model.BaseParams
  stats: list
  activation: str
  standardizer: preprocess.Standardizer | None = None

  @classmethod
  def from_reference(
    cls,
    params: base_model.BaseParams,
    x_ref,
    activation: str,
    standardizer: preprocess.Standardizer | None = None,
  ):
    """A trained network whose features normalise with the statistics of `x_ref`.

    Args:
      params: the base network's weights, input width D.
      x_ref: reference examples [N, D] (unlabeled training data), already standardised
        when `standardizer` is given.
      activation: the network's activation name.
      standardizer: what `features` applies to its inputs first (None: nothing).

    Returns:
      TrainedModel.
    """
    return cls(
      params=params,
      stats=_features_stats(params, jnp.asarray(x_ref), activation),
      activation=activation,
      standardizer=standardizer,
    )

  def features(self, x) -> np.ndarray:
    """The top-layer representation of `x`, standardised first as the unlabeled data were
    (when the model has a `standardizer`).

    Args:
      x: examples [N, D], D the network's input width, on the scale of the data the model
        was trained on (raw, if apply_rule standardised them).

    Returns:
      features [N, F] (float32 numpy), F the top layer's width.

    Raises:
      ValueError: x is not a real 2-D array, has another width, or holds NaN or inf.
    """
    x = checks.matrix(x, "x", self.params.input_dim)
    if self.standardizer is not None:
      x = self.standardizer(x)
    return np.asarray(_features(self.params, jnp.asarray(x), self.stats, self.activation))


@functools.partial(jax.jit, static_argnames="activation")
def _features(params, x, stats, activation):
  return base_model.features(params, x, activation, stats)


def apply_rule(
  rule_: Rule,
  x_unlabeled,
  *,
  widths: Sequence[int] = DEFAULT_WIDTHS,
  activation: str = "relu",
  steps: int = DEFAULT_STEPS,
  batch_size: int = DEFAULT_BATCH_SIZE,
  seed: int = 0,
  standardize: bool = True,
  permute_inputs: bool = True,
  chunk: int = 100,
) -> TrainedModel:
  """Train a fresh base network on unlabeled data with the rule alone (no labels, no
  backprop), as the inner loop of Metz et al., ICLR 2019. The defaults are the setting the
  shipped rule was meta-trained and evaluated in (`DEFAULT_WIDTHS`, `DEFAULT_STEPS`,
  `DEFAULT_BATCH_SIZE`).

  Args:
    rule_: the Rule (from `load_rule`), or a str `load_rule` takes ("pretrained",
      "pretrained:NAME", a rule file or a workdir).
    x_unlabeled: unlabeled examples [N, D], N >= 2, D >= 1, real.
    widths: layer widths of the base network, positive integers; the last is the
      representation.
    activation: its activation (`base_model.ACTIVATIONS`).
    steps: inner steps of the rule; 0 returns the randomly initialised network of this seed
      (the baseline).
    batch_size: examples per inner step, in [2, N].
    seed: PRNG seed of the initialisation, the batches and the reference sample, in
      [0, 2**32 - 1].
    standardize: standardise the inputs as meta-training and the evaluation do: one mean
      and one std over all values of x_unlabeled (not per feature), which the model keeps
      and `features` applies to its inputs. False: use x_unlabeled as given (data already
      standardised, e.g. `metaunsup.data.load`'s; standardising again would change the
      floats slightly).
    permute_inputs: permute the input units at initialisation (as in meta-training).
    chunk: inner steps per jitted call (compiles once per chunk length).

  Returns:
    TrainedModel whose batch norm uses the statistics of up to 1024 examples of x_unlabeled.

  Raises:
    TypeError: `rule_` is not a Rule or a str.
    FileNotFoundError: no rule where the str `rule_` points.
    ValueError: x_unlabeled is not a real 2-D array with at least one feature, not finite,
      too large for float32 (to standardise, or with standardize=False for the base
      network's batch norm: `checks.network_range`), or has fewer than 2 examples; widths
      are not a sequence of positive integers; a count (steps, chunk, batch_size) is not an
      integer in range; the seed is outside [0, 2**32 - 1].
  """
  if isinstance(rule_, str):
    rule_ = read_rule(rule_)
  if not isinstance(rule_, Rule):
    raise TypeError(
      "apply_rule takes a metaunsup.Rule (from metaunsup.load_rule) or what load_rule takes "
      f"(e.g. 'pretrained', 'pretrained:NAME', a rule file), got {type(rule_).__name__}"
    )
  x = checks.matrix(x_unlabeled, "x_unlabeled")
  widths = checks.widths(widths)
  steps, chunk = checks.integer(steps, "steps", 0), checks.integer(chunk, "chunk", 1)
  batch_size, seed = checks.integer(batch_size, "batch_size", 2), checks.seed(seed)
  if len(x) < 2:
    raise ValueError(f"x_unlabeled needs at least 2 examples (batch norm), got {len(x)}")
  if not 2 <= batch_size <= len(x):
    raise ValueError(
      f"batch_size must be in [2, {len(x)}] (the number of examples), got {batch_size}"
    )
  standardizer = None
  if standardize:
    standardizer = preprocess.Standardizer.fit_finite(x, "x_unlabeled's")
    x = standardizer(x)
  checks.network_range(x, "x_unlabeled")
  cfg = inner.InnerConfig(
    rule=rule_.config,
    widths=widths,
    activation=activation,
    batch_size=batch_size,
    permute_inputs=permute_inputs,
  )
  key_init, key_ref = jax.random.split(jax.random.PRNGKey(seed))
  # A rule that knows the time is told the run's length (`local_rule.StepInfo.total`).
  state = inner.with_total(inner.init_task(key_init, x.shape[1], cfg), steps)
  data = inner.unlabeled_data(x)
  done = 0
  while done < steps:
    k = min(chunk, steps - done)
    state = inner.jitted_unroll(rule_.theta, cfg, state, data, k)
    done += k
  ref = x[np.asarray(jax.random.choice(key_ref, len(x), (min(len(x), 1024),), replace=False))]
  return TrainedModel.from_reference(state.params, ref, activation, standardizer)


@functools.partial(jax.jit, static_argnames="activation")
def _features_stats(params, x, activation):
  return base_model.apply(params, x, activation).stats
