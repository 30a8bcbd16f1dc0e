"""The convolutional base network (issue 38): conv, pooling and dense layers from a layer
description (`layers`), batch norm on batch statistics per channel, an activation of
`base_model.ACTIVATIONS`. Pure functions on an explicit `ConvParams` pytree, as
`base_model` is for the MLP.

A conv layer is a dense layer on patches: its weights are [kh * kw * C_in, C_out], and its
input, for the rule, is the map cut into one row per example and output position,
[N * P, kh * kw * C_in] (`patches`), so every rule that updates a dense layer from its own
input (the zoo's terms, the compact rule) updates a conv layer with the same function, its
batch being examples x positions. Batch norm normalises each channel over the same rows,
as it normalises each unit of the MLP over its batch; the forward pass is x W on those rows,
so a conv layer whose kernel covers its whole input (valid padding, one position) is the
MLP's dense layer on the flattened map, and a 1x1 conv the MLP's layer on every pixel.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import base_model
from metaunsup.conv import layers as layers_lib


@dataclasses.dataclass(frozen=True)
class Architecture:
  """A checked layer description on images of one shape (hashable: it closes over jitted
  code, as `inner.InnerConfig` does).

  Attributes:
    layers: the layers, parsed (`layers.parse`; a description of strings is parsed at
      construction).
    input_shape: (H, W, C) of the input images.
    shapes: (derived) the input's shape and each layer's output shape (`layers.output_shapes`).

  Raises:
    ValueError: a bad description, input shape or a layer that does not fit (one line).
  """

  layers: tuple[layers_lib.Layer, ...]
  input_shape: tuple[int, int, int]
  shapes: tuple[layers_lib.Shape, ...] = dataclasses.field(init=False, compare=False)

  def __post_init__(self) -> None:
    parsed = layers_lib.parse(self.layers)
    shape = layers_lib.check_input_shape(self.input_shape)
    object.__setattr__(self, "layers", parsed)
    object.__setattr__(self, "input_shape", shape)
    object.__setattr__(self, "shapes", (shape,) + layers_lib.output_shapes(parsed, shape))

  @property
  def trainable(self) -> tuple[int, ...]:
    """Positions in `layers` of the trainable (conv and dense) layers, in order: trainable
    layer l of `ConvParams` is layers[trainable[l]]."""
    return tuple(
      i
      for i, layer in enumerate(self.layers)
      if isinstance(layer, (layers_lib.Conv, layers_lib.Dense))
    )

  def fan_in(self, l: int) -> int:
    """K_l, the rows of trainable layer l's W: kh * kw * C_in for a conv, the flattened
    input's size for a dense layer."""
    i = self.trainable[l]
    layer, shape = self.layers[i], self.shapes[i]
    if isinstance(layer, layers_lib.Conv):
      return layer.kernel[0] * layer.kernel[1] * shape[2]
    return math.prod(shape)

  @property
  def feature_dim(self) -> int:
    """D, the size of the last layer's output, flattened: the representation's width."""
    return math.prod(self.shapes[-1])


def architecture(
  layers: Sequence[str | layers_lib.Layer], input_shape: Sequence[int]
) -> Architecture:
  """A checked `Architecture`.

  Args:
    layers: a layer description (`layers.FORMS`), e.g. ("conv5x5:32", "pool2", "dense:32").
    input_shape: (H, W, C) of the input images, e.g. (28, 28, 1).

  Returns:
    `Architecture`.

  Raises:
    ValueError: a bad description or input shape, or a layer that does not fit (one line).
  """
  return Architecture(layers_lib.parse(layers), layers_lib.check_input_shape(input_shape))


class ConvParams(flax.struct.PyTreeNode):
  """The conv network's parameters, lists over its trainable layers l = 0 .. L-1 in order
  (`Architecture.trainable`). No feedback weights: the zoo's rules and the compact rule
  read none.

  Attributes:
    W: W[l] [K_l, C_l]: K_l = kh * kw * C_in, rows in (kernel row, kernel column, input
      channel) order, for a conv layer; the flattened input's size for a dense one.
    b: b[l] [C_l], added after batch norm.
  """

  W: list
  b: list


class ConvActivations(flax.struct.PyTreeNode):
  """One forward pass on a batch of N images, per trainable layer l (P_l its output
  positions; 1 for a dense layer).

  Attributes:
    inputs: inputs[l] [N * P_l, K_l], layer l's input as the rule reads it: patches (rows
      ordered by example, then output row, then output column) or the flattened map.
    outputs: outputs[l] [N * P_l, C_l], its post-activation output, rows as inputs[l].
    stats: L pairs (mean [C_l], var [C_l]) of the batch norm used (`apply(stats=...)`).
    features: [N, D] the last layer's output, flattened in (row, column, channel) order.
  """

  inputs: list
  outputs: list
  stats: list
  features: jax.Array


def init(key: jax.Array, arch: Architecture, init_scale: float = 0.01) -> ConvParams:
  """Fresh parameters as `base_model.init` draws them: truncated-normal W rescaled to unit
  column rms (batch norm follows, so only the direction of a filter matters), normal b.

  Args:
    key: PRNG key.
    arch: the network.
    init_scale: standard deviation of W before the rescaling.

  Returns:
    `ConvParams` with W[l] [K_l, C_l] (unit column rms) and b[l] [C_l] (sd 0.01).
  """
  keys = jax.random.split(key, 2 * len(arch.trainable))
  Ws, bs = [], []
  for l, i in enumerate(arch.trainable):
    fan_out = arch.shapes[i + 1][-1]
    kw, kb = keys[2 * l], keys[2 * l + 1]
    w = init_scale * jax.random.truncated_normal(kw, -2.0, 2.0, (arch.fan_in(l), fan_out))
    Ws.append(base_model.unit_columns(w))
    bs.append(0.01 * jax.random.normal(kb, (fan_out,)))
  return ConvParams(W=Ws, b=bs)


def patches(x: jax.Array, layer: layers_lib.Conv) -> jax.Array:
  """The patches a conv layer reads, one per output position.

  Strided slices, not `jax.lax.conv_general_dilated_patches`: that is a convolution with
  an identity kernel, (kh kw C_in)^2 multiplications per position, which dominates a step
  at 3x3x32 patches on a CPU; it also orders a patch (input channel, kernel row, kernel
  column), where W's rows here are (kernel row, kernel column, input channel), the HWIO
  kernel's order (tested against both).

  Args:
    x: [N, H, W, C] a map.
    layer: the conv layer.

  Returns:
    [N, H', W', kh * kw * C], entry (i * kw + j) * C + c the input channel c at kernel
    offset (i, j).
  """
  (kh, kw), s = layer.kernel, layer.stride
  rows, cols = layers_lib.same_padding(layer, (x.shape[1], x.shape[2]))
  x = jnp.pad(x, ((0, 0), rows, cols, (0, 0)))
  ho, wo = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
  return jnp.concatenate(
    [
      x[:, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s, :]
      for i in range(kh)
      for j in range(kw)
    ],
    axis=-1,
  )


def convolve(x: jax.Array, w: jax.Array, layer: layers_lib.Conv) -> jax.Array:
  """x W on every patch without cutting the patches out (`jax.lax.conv_general_dilated`):
  what the features need, on any number of images.

  Args:
    x: [N, H, W, C_in] a map.
    w: [kh * kw * C_in, C_out] the layer's weights.
    layer: the conv layer.

  Returns:
    [N, H', W', C_out], equal to `patches(x, layer) @ w` up to float rounding.
  """
  kh, kw = layer.kernel
  kernel = w.reshape(kh, kw, x.shape[-1], w.shape[1])
  return jax.lax.conv_general_dilated(
    x,
    kernel,
    (layer.stride, layer.stride),
    layers_lib.same_padding(layer, (x.shape[1], x.shape[2])),
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )


def pool(x: jax.Array, layer: layers_lib.Pool) -> jax.Array:
  """Max or average pooling (windows that do not fit are dropped: "valid").

  Args:
    x: [N, H, W, C] a map.
    layer: the pooling layer.

  Returns:
    [N, H', W', C].
  """
  window, strides = (1, layer.size, layer.size, 1), (1, layer.stride, layer.stride, 1)
  if layer.kind == "max":
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, "VALID")
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, "VALID")
  return total / (layer.size * layer.size)


def _forward(
  arch: Architecture,
  params: ConvParams,
  x: jax.Array,
  activation: base_model.Activation,
  stats: Optional[list],
  keep_inputs: bool,
) -> ConvActivations:
  if x.ndim != 4 or tuple(x.shape[1:]) != arch.input_shape:
    raise ValueError(
      f"images must be [N, H, W, C] with (H, W, C) = {arch.input_shape}, got shape {x.shape}"
    )
  act = base_model.get_activation(activation)
  n, h = x.shape[0], x
  inputs: list[jax.Array] = []
  outputs: list[jax.Array] = []
  used: list[tuple[jax.Array, jax.Array]] = []
  for layer, shape in zip(arch.layers, arch.shapes[1:]):
    if isinstance(layer, layers_lib.Pool):
      h = pool(h, layer)
      continue
    l = len(used)
    w = params.W[l]
    if isinstance(layer, layers_lib.Dense):
      rows = h.reshape(n, -1)
      a = rows @ w
    elif keep_inputs:
      rows = patches(h, layer).reshape(-1, w.shape[0])
      a = rows @ w
    else:
      a = convolve(h, w, layer).reshape(-1, w.shape[1])
    mean, var = base_model.batch_stats(a) if stats is None else stats[l]
    y = act((a - mean) * jax.lax.rsqrt(var + base_model.BN_EPS) + params.b[l])
    if keep_inputs:
      inputs.append(rows)
      outputs.append(y)
    used.append((mean, var))
    h = y.reshape((n,) + shape)
  return ConvActivations(inputs=inputs, outputs=outputs, stats=used, features=h.reshape(n, -1))


def apply(
  arch: Architecture,
  params: ConvParams,
  x: jax.Array,
  activation: base_model.Activation,
  stats: Optional[list] = None,
) -> ConvActivations:
  """Forward pass on a batch of images, with every trainable layer's input as the rule
  reads it (its patches, materialised: [N * P_l, K_l] floats per layer).

  Batch norm (no learned scale) normalises each channel of x W over the batch's examples
  and positions, or with `stats` when given (as `base_model.apply`).

  Args:
    arch: the network.
    params: its parameters.
    x: [N, H, W, C] images, (H, W, C) = arch.input_shape.
    activation: a name of `base_model.ACTIVATIONS` or an elementwise function.
    stats: optional L pairs (mean [C_l], var [C_l]), e.g. a previous
      `ConvActivations.stats`.

  Returns:
    `ConvActivations`.

  Raises:
    ValueError: x of another shape, or an unknown activation.
  """
  return _forward(arch, params, x, activation, stats, keep_inputs=True)


def features(
  arch: Architecture,
  params: ConvParams,
  x: jax.Array,
  activation: base_model.Activation,
  stats: Optional[list] = None,
) -> jax.Array:
  """The representation: the last layer's output, flattened, computed by convolutions
  (no patches cut out, so memory grows with the maps only).

  Args:
    arch, params, x, activation, stats: as `apply` (stats of training data, e.g.
      `statistics`, make the features of one example independent of the others).

  Returns:
    [N, D], D = arch.feature_dim, in (row, column, channel) order.

  Raises:
    ValueError: as `apply`.
  """
  return _forward(arch, params, x, activation, stats, keep_inputs=False).features


def statistics(
  arch: Architecture, params: ConvParams, x: jax.Array, activation: base_model.Activation
) -> list:
  """The batch-norm statistics of `x` per trainable layer (by convolutions, as `features`).

  Args:
    arch, params, x, activation: as `apply`; x a reference batch (unlabeled training data).

  Returns:
    L pairs (mean [C_l], var [C_l]), for `features(stats=...)`.

  Raises:
    ValueError: as `apply`.
  """
  return _forward(arch, params, x, activation, None, keep_inputs=False).stats
