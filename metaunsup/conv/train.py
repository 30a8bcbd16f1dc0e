"""Training a convolutional base network with a rule on unlabeled images (issue 38), as
`trained_model.apply_rule` trains the MLP: a fresh network, inner steps of the rule on
minibatches drawn with replacement (`jax.lax.scan`, jitted), and a model whose features
use batch-norm statistics of the training images, so any batch size works::

  apply_rule(rule, images [N, H, W, C], *, layers, steps, batch_size, activation, seed,
             standardize) -> ConvModel
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, checks, local_rule, preprocess
from metaunsup.conv import layers as layers_lib
from metaunsup.conv import network, update
from metaunsup.rule_files import Rule, read_rule
from metaunsup.rules.compact import CompactRule

# apply_rule's defaults are the MLP's (`trained_model`): no rule has been swept or
# meta-trained on conv networks yet.
DEFAULT_STEPS = 300
DEFAULT_BATCH_SIZE = 64
# Examples whose statistics the features' batch norm uses, as the MLP's model gathers them.
REFERENCE_EXAMPLES = 1024
# Images per jitted call of `ConvModel.features`: memory grows with the maps of this many.
FEATURE_CHUNK = 512


def inner_step(
  rule: local_rule.LocalRule,
  theta: local_rule.Theta,
  arch: network.Architecture,
  params: network.ConvParams,
  images: jax.Array,
  activation: base_model.Activation,
  step: jax.Array | int = 0,
) -> network.ConvParams:
  """One step of the rule: forward pass on a batch, then every trainable layer's update
  from its own input (no loss, no backprop).

  Args:
    rule: the compact rule or a zoo rule (`update.check_rule`).
    theta: its meta-parameters ({} for a zoo rule).
    arch: the network.
    params: its parameters.
    images: [B, H, W, C] a batch.
    activation: a name of `base_model.ACTIVATIONS` or an elementwise function.
    step: scalar, inner steps taken before this one.

  Returns:
    The updated `network.ConvParams`.
  """
  acts = network.apply(arch, params, images, activation)
  return update.update(rule, theta, params, acts, step)


@functools.partial(jax.jit, static_argnames=("rule", "arch", "activation", "batch_size", "k"))
def unroll(
  rule: local_rule.LocalRule,
  theta: local_rule.Theta,
  arch: network.Architecture,
  activation: str,
  batch_size: int,
  params: network.ConvParams,
  key: jax.Array,
  step: jax.Array,
  images: jax.Array,
  k: int,
) -> tuple[network.ConvParams, jax.Array, jax.Array]:
  """k inner steps, each on a batch drawn uniformly with replacement; compiled once per
  (rule, arch, activation, batch_size, k, shapes).

  Args:
    rule: the compact rule or a zoo rule (static).
    theta: its meta-parameters.
    arch: the network (static).
    activation: a name of `base_model.ACTIVATIONS` (static).
    batch_size: B (static).
    params: the network's parameters.
    key: PRNG key, split at every step (the new one is returned).
    step: int32 scalar, inner steps taken so far.
    images: [N, H, W, C] the unlabeled images.
    k: inner steps (static).

  Returns:
    (params, key, step) after k steps: a key not used here, and step + k.
  """

  def one(carry, _):
    params, key, i = carry
    key, k_batch = jax.random.split(key)
    batch = images[jax.random.randint(k_batch, (batch_size,), 0, images.shape[0])]
    return (inner_step(rule, theta, arch, params, batch, activation, i), key, i + 1), None

  return jax.lax.scan(one, (params, key, step), None, length=k)[0]


@dataclasses.dataclass(frozen=True)
class ConvModel:
  """A conv network trained by a rule. `features` uses batch-norm statistics gathered on
  the unlabeled training images, so any batch size (one image included) works.

  Attributes:
    arch: the network.
    params: its parameters (`network.ConvParams`).
    stats: per-layer batch-norm statistics of the reference images.
    activation: the activation's name.
    standardizer: applied to `features`' inputs first, fitted on the unlabeled images
      (`apply_rule(standardize=True)`); None: inputs are used as given.
  """

  arch: network.Architecture
  params: network.ConvParams
  stats: list
  activation: str
  standardizer: preprocess.Standardizer | None = None

  def features(self, x: Any) -> np.ndarray:
    """The representation of images, standardised first as the unlabeled images were
    (when the model has a `standardizer`).

    Args:
      x: [N, H, W, C] images of the network's input shape, on the scale of the training
        images (raw, if apply_rule standardised them).

    Returns:
      [N, D] float32 numpy, D = arch.feature_dim: the last layer's output, flattened.

    Raises:
      ValueError: x is not real [N, H, W, C] of the network's input shape, or holds NaN
        or inf.
    """
    x = _images(x, "x", self.arch.input_shape)
    if self.standardizer is not None:
      x = self.standardizer(x)
    out = []
    for start in range(0, len(x), FEATURE_CHUNK):
      part = x[start : start + FEATURE_CHUNK]
      # Padded to the chunk's size, so one program serves every call; with the reference
      # statistics, the padding's rows do not touch the images'.
      padded = np.zeros((FEATURE_CHUNK,) + part.shape[1:], np.float32)
      padded[: len(part)] = part
      feats = _features(self.arch, self.params, jnp.asarray(padded), self.stats, self.activation)
      out.append(np.asarray(feats)[: len(part)])
    return np.concatenate(out) if out else np.zeros((0, self.arch.feature_dim), np.float32)


@functools.partial(jax.jit, static_argnames=("arch", "activation"))
def _features(arch, params, x, stats, activation):
  return network.features(arch, params, x, activation, stats)


@functools.partial(jax.jit, static_argnames=("arch", "activation"))
def _statistics(arch, params, x, activation):
  return network.statistics(arch, params, x, activation)


def _images(x: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
  """x as finite float32 images [N, H, W, C] (of `shape` where given), or a one-line error."""
  x = np.asarray(x)
  if x.ndim != 4:
    hint = " (add a channel axis: x[..., None])" if x.ndim == 3 else ""
    raise ValueError(f"{name} must be images [N, H, W, C], got shape {x.shape}{hint}")
  if shape is not None and tuple(x.shape[1:]) != tuple(shape):
    raise ValueError(f"{name} has images of shape {x.shape[1:]}, the network expects {shape}")
  if x.dtype.kind not in "biuf":
    raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
  return checks.finite_float32(x, name)


def _as_rule(rule_: Any) -> Rule:
  """apply_rule's rule as a Rule a conv network can train with, or a one-line error."""
  if isinstance(rule_, str):
    rule_ = read_rule(rule_)
  elif isinstance(rule_, local_rule.LocalRule) and not isinstance(rule_, CompactRule):
    update.zoo_term(rule_)
    rule_ = Rule(theta={}, config=rule_)  # a zoo rule: nothing meta-learned
  if not isinstance(rule_, Rule):
    hint = ", a config without its theta" if isinstance(rule_, CompactRule) else ""
    raise TypeError(
      "conv.apply_rule takes a metaunsup.Rule (of the compact rule or a zoo rule), what "
      f"load_rule takes or a zoo rule's config, got {type(rule_).__name__}{hint}"
    )
  update.check_rule(rule_.config)
  return rule_


def apply_rule(
  rule_: Rule | str | local_rule.LocalRule,
  images: Any,
  *,
  layers: Sequence[str],
  steps: int = DEFAULT_STEPS,
  batch_size: int = DEFAULT_BATCH_SIZE,
  activation: str = "relu",
  seed: int = 0,
  standardize: bool = True,
  chunk: int = 100,
) -> ConvModel:
  """Train a fresh conv network on unlabeled images with a rule alone (no labels, no
  backprop): the compact rule or a zoo rule, every trainable layer updated from its own
  input, a conv layer's being its patches (`update`).

  Args:
    rule_: a Rule (`metaunsup.load_rule`) of the compact rule or a zoo rule, a str
      `load_rule` takes, or a zoo rule's config (e.g.
      `metaunsup.rules.zoo.KrotovHopfield(lr=0.02)`, nothing to meta-learn).
    images: unlabeled images [N, H, W, C], N >= 2, real (e.g. `conv.images.load`'s).
    layers: the network (`layers.FORMS`), e.g. ("conv5x5:32", "pool2", "conv3x3:64",
      "pool2", "dense:32").
    steps: inner steps of the rule; 0 returns the random network of this seed.
    batch_size: images per inner step, in [2, N]; a conv layer's rule sees batch_size
      times its output positions rows.
    activation: a name of `base_model.ACTIVATIONS`.
    seed: PRNG seed of the initialisation, the batches and the reference sample, in
      [0, 2**32 - 1].
    standardize: standardise the images (one mean and std over all values, kept by the
      model and applied by `features`); False: use them as given (already standardised,
      e.g. `conv.images.load`'s).
    chunk: inner steps per jitted call (compiles once per chunk length).

  Returns:
    `ConvModel` whose batch norm uses the statistics of up to `REFERENCE_EXAMPLES` images.

  Raises:
    TypeError: `rule_` is none of the above (a compact rule's config alone has no theta).
    FileNotFoundError: no rule where the str `rule_` points.
    ValueError: images not real, finite [N, H, W, C] with N >= 2; a bad layer
      description or one that does not fit the images; a rule a conv network cannot
      train with (`update.check_rule`); an unknown activation; a count out of range; the
      seed outside [0, 2**32 - 1] (one line each).
  """
  rule_ = _as_rule(rule_)
  base_model.get_activation(activation)
  x = _images(images, "images")
  arch = network.architecture(layers_lib.parse(layers), x.shape[1:])
  steps, chunk = checks.integer(steps, "steps", 0), checks.integer(chunk, "chunk", 1)
  batch_size, seed = checks.integer(batch_size, "batch_size", 2), checks.seed(seed)
  if len(x) < 2 or not batch_size <= len(x):
    raise ValueError(
      f"batch_size must be in [2, N] and N >= 2 (batch norm), got batch_size {batch_size} "
      f"for N = {len(x)} images"
    )
  standardizer = None
  if standardize:
    standardizer = preprocess.Standardizer.fit_finite(x, "images'")
    x = standardizer(x)
  key_init, key_run, key_ref = jax.random.split(jax.random.PRNGKey(seed), 3)
  params = network.init(key_init, arch)
  data, key, step = jnp.asarray(x), key_run, jnp.zeros((), jnp.int32)
  done = 0
  while done < steps:
    k = min(chunk, steps - done)
    params, key, step = unroll(
      rule_.config, rule_.theta, arch, activation, batch_size, params, key, step, data, k
    )
    done += k
  picked = jax.random.choice(key_ref, len(x), (min(len(x), REFERENCE_EXAMPLES),), replace=False)
  stats = _statistics(arch, params, jnp.asarray(x[np.asarray(picked)]), activation)
  return ConvModel(arch, params, stats, activation, standardizer)
