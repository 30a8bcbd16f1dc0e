"""Supervised backprop on the few labelled examples the readout sees: the base network plus
a linear softmax head, trained end to end. It bounds what the labels alone can teach the
same architecture."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metaunsup import base_model, checks
from metaunsup.baselines.checks import check_differentiable


def init_classifier(key: jax.Array, encoder: base_model.BaseParams, num_classes: int) -> dict:
  """The trainable parameters: the trunk's W and b (V is the learned rule's feedback
  pathway, unused by the forward pass; perm is fixed) and a LeCun-normal linear head.

  Args:
    key: PRNG key of the head's weights.
    encoder: the initial trunk; its last layer gives the feature width F.
    num_classes: the head's outputs C.

  Returns:
    {"encoder": {"W": [...], "b": [...]}, "head": {"w": [F, C], "b": [C]}}.
  """
  feature_dim = int(encoder.W[-1].shape[1])
  return {
    "encoder": {"W": list(encoder.W), "b": list(encoder.b)},
    "head": {
      "w": jax.random.normal(key, (feature_dim, num_classes)) / math.sqrt(feature_dim),
      "b": jnp.zeros(num_classes),
    },
  }


def trunk_params(params: dict, encoder: base_model.BaseParams) -> base_model.BaseParams:
  """The trunk with the trained W and b (`init_classifier`' layout) put back.

  Args:
    params: the trainable parameters.
    encoder: the initial trunk (its V and perm are kept).

  Returns:
    The trained `base_model.BaseParams`.
  """
  return encoder.replace(W=params["encoder"]["W"], b=params["encoder"]["b"])


def logits(
  params: dict, encoder: base_model.BaseParams, x: jax.Array, activation: str
) -> jax.Array:
  """Class scores of the trunk plus the linear head. Batch norm uses x's own statistics:
  training is full-batch on the support set.

  Args:
    params: the trainable parameters (`init_classifier`).
    encoder: the initial trunk (its V and perm).
    x: [N, D] inputs.
    activation: the trunk's activation name.

  Returns:
    [N, C] logits.
  """
  return (
    base_model.features(trunk_params(params, encoder), x, activation) @ params["head"]["w"]
    + params["head"]["b"]
  )


@functools.partial(jax.jit, static_argnames="activation")
def _fit(
  params: dict,
  encoder: base_model.BaseParams,
  x: jax.Array,
  y: jax.Array,
  steps: jax.Array,
  learning_rate: jax.Array,
  *,
  activation: str,
):
  """steps and learning_rate are traced, so any values reuse one compilation."""
  opt = optax.adam(learning_rate)

  def loss(p):
    return optax.softmax_cross_entropy_with_integer_labels(
      logits(p, encoder, x, activation), y
    ).mean()

  def step(_, carry):
    p, opt_state = carry
    updates, opt_state = opt.update(jax.grad(loss)(p), opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  params, _ = jax.lax.fori_loop(0, steps, step, (params, opt.init(params)))
  acc = jnp.mean(jnp.argmax(logits(params, encoder, x, activation), axis=1) == y)
  return params, acc


def train_classifier(
  key: jax.Array,
  encoder_init: base_model.BaseParams,
  x_support,
  y_support,
  *,
  activation: str,
  num_classes: int,
  steps: int = 500,
  learning_rate: float = 1e-3,
) -> tuple[base_model.BaseParams, float]:
  """Supervised backprop on the labelled examples alone: full-batch Adam (optax) on
  softmax cross-entropy through the trunk and a linear head.

  Args:
    key: PRNG key of the head's init.
    encoder_init: the initial trunk (the network every method starts from).
    x_support: [N, D] labelled inputs, N >= 2.
    y_support: [N] integer labels in [0, num_classes).
    activation: the trunk's activation; differentiable (not 'step').
    num_classes: the number of classes, >= 2.
    steps: Adam steps, >= 0.
    learning_rate: Adam's learning rate, > 0.

  Returns:
    (trunk, accuracy): the trained trunk and its final training accuracy on the support
    set (steps=0: the initial trunk and the accuracy of the random head on it).

  Raises:
    ValueError: (one line) for wrong shapes, non-finite inputs or ones too large for float32
      batch norm, labels out of range, bad counts or rates, or a non-differentiable
      activation.
  """
  x = checks.matrix(x_support, "x_support", encoder_init.input_dim)
  y = np.asarray(y_support)
  checks.network_range(x, "x_support")
  if len(x) < 2:
    raise ValueError(f"x_support needs at least 2 examples (batch norm), got {len(x)}")
  checks.integer(num_classes, "num_classes", 2)
  if (
    y.shape != (len(x),)
    or not np.issubdtype(y.dtype, np.integer)
    or y.min() < 0
    or y.max() >= num_classes
  ):
    raise ValueError(
      f"y_support must be {len(x)} integer labels in [0, {num_classes}), "
      f"got shape {y.shape}, dtype {y.dtype}"
    )
  checks.integer(steps, "steps", 0)
  if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
    raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
  check_differentiable(activation)
  params, acc = _fit(
    init_classifier(key, encoder_init, num_classes),
    encoder_init,
    jnp.asarray(x),
    jnp.asarray(y, jnp.int32),
    jnp.asarray(steps, jnp.int32),
    jnp.asarray(learning_rate, jnp.float32),
    activation=activation,
  )
  return trunk_params(params, encoder_init), float(acc)
