"""The layers of a convolutional base network from a one-line description, as `widths`
describes an MLP (issue 38): a tuple of entries such as ("conv5x5:32", "pool2",
"conv3x3:64", "avgpool2", "dense:32"), parsed and checked here, with each layer's output
shape from the input image's.

Entries (`FORMS`)::

    convKHxKW[sS][same]:C   a convolution, kernel KH x KW, stride S (default 1), C output
                            channels; "valid" padding unless "same" is written
    pool{K}[sS], maxpool{K}[sS], avgpool{K}[sS]
                            max (pool, maxpool) or average pooling over K x K windows,
                            stride S (default K: windows that do not overlap); a last
                            row or column that fills no window is dropped
    dense:N                 a fully connected layer of N units on the flattened map

Padding is "valid" by default: every patch a rule learns from is then real data. Zero
padding ("same") adds border patches with a constant strip in them (on standardised images
0 is the data's mean, not their background), and local rules that cluster or rank patches
(competitive learning, Krotov-Hopfield) may spend units on it; "valid" is also XLA's and
PyTorch's default. A dense layer ends the spatial part: only dense layers may follow it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import jax

from metaunsup import checks

FORMS = (
  "'convKHxKW[sS][same]:C' (e.g. 'conv5x5:32', 'conv3x3s2same:64'), "
  "'pool{K}[sS]' / 'maxpool{K}[sS]' / 'avgpool{K}[sS]' (e.g. 'pool2', 'avgpool3s2'), "
  "'dense:N' (e.g. 'dense:32')"
)
_EXAMPLE = '("conv5x5:32", "pool2", "conv3x3:64", "pool2", "dense:32")'

_CONV = re.compile(r"conv(\d+)x(\d+)(?:s(\d+))?(same|valid)?:(\d+)")
_POOL = re.compile(r"(max|avg)?pool(\d+)(?:s(\d+))?")
_DENSE = re.compile(r"dense:(\d+)")

# A map's shape (H, W, C), or a dense layer's output (D,).
Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Conv:
  """A convolution (trainable). Its weights are [kh * kw * C_in, channels], rows in
  (kernel row, kernel column, input channel) order: a patch flattened as the image it is
  cut from (`network.patches`), and the HWIO kernel of `jax.lax.conv_general_dilated`
  reshaped.

  Attributes:
    kernel: (kh, kw), pixels.
    stride: the step between patches, in both directions.
    padding: "valid" (patches inside the map) or "same" (zeros around it, the output
      ceil(H / stride) x ceil(W / stride), as XLA's "SAME").
    channels: output channels.
  """

  kernel: tuple[int, int]
  stride: int
  padding: str
  channels: int

  @property
  def spec(self) -> str:
    """The layer's entry in canonical form (e.g. "conv3x3s2same:64")."""
    stride = f"s{self.stride}" if self.stride != 1 else ""
    same = "same" if self.padding == "same" else ""
    return f"conv{self.kernel[0]}x{self.kernel[1]}{stride}{same}:{self.channels}"


@dataclasses.dataclass(frozen=True)
class Pool:
  """Max or average pooling over square windows (nothing to train).

  Attributes:
    kind: "max" or "avg".
    size: the window's side, pixels.
    stride: the step between windows.
  """

  kind: str
  size: int
  stride: int

  @property
  def spec(self) -> str:
    """The layer's entry in canonical form (e.g. "pool2", "avgpool3s2")."""
    stride = f"s{self.stride}" if self.stride != self.size else ""
    return f"{'pool' if self.kind == 'max' else 'avgpool'}{self.size}{stride}"


@dataclasses.dataclass(frozen=True)
class Dense:
  """A fully connected layer (trainable) on its input flattened in (row, column, channel)
  order; its weights are [H * W * C_in, units].

  Attributes:
    units: output units.
  """

  units: int

  @property
  def spec(self) -> str:
    """The layer's entry in canonical form (e.g. "dense:32")."""
    return f"dense:{self.units}"


Layer = Conv | Pool | Dense


def parse_layer(entry: str | Layer, index: int = 0) -> Layer:
  """One entry of a layer description (module docstring).

  Args:
    entry: e.g. "conv5x5:32", "conv3x3s2same:64", "pool2", "avgpool2", "dense:32"; a parsed
      layer is returned as it is.
    index: its position in the description, for the message.

  Returns:
    `Conv`, `Pool` or `Dense`.

  Raises:
    ValueError: not one of `FORMS`, or a size, stride or count of 0 (one line naming the
      entry and the accepted forms).
  """
  if isinstance(entry, (Conv, Pool, Dense)):
    return entry
  text = entry.strip().lower() if isinstance(entry, str) else None
  layer: Layer | None = None
  numbers: tuple[int, ...] = ()
  if text is not None and (m := _CONV.fullmatch(text)):
    kh, kw, stride, padding, channels = m.groups()
    layer = Conv((int(kh), int(kw)), int(stride or 1), padding or "valid", int(channels))
    numbers = (*layer.kernel, layer.stride, layer.channels)
  elif text is not None and (m := _POOL.fullmatch(text)):
    kind, size, stride = m.groups()
    layer = Pool(kind or "max", int(size), int(stride or size))
    numbers = (layer.size, layer.stride)
  elif text is not None and (m := _DENSE.fullmatch(text)):
    layer = Dense(int(m.group(1)))
    numbers = (layer.units,)
  if layer is None or min(numbers) < 1:
    why = "is not a layer" if layer is None else "has a size, stride or count of 0"
    raise ValueError(f"layer {index} {entry!r} {why}; the forms are {FORMS}")
  return layer


def is_conv_network(spec: str) -> bool:
  """Whether a network "ACTIVATION:DESCRIPTION" (`validation.networks`) is a conv network:
  its layers start with a letter ("relu:conv5x5:16 pool2"), an MLP's widths with a digit
  ("relu:64-32").

  Args:
    spec: the network's description.

  Returns:
    True for a conv network (whether or not its layers parse).
  """
  return str(spec).partition(":")[2][:1].isalpha()


def parse(layers: Sequence[str | Layer]) -> tuple[Layer, ...]:
  """A layer description as layers, checked (module docstring).

  Args:
    layers: a non-empty sequence of entries (`FORMS`; or parsed layers), e.g.
      ("conv5x5:32", "pool2", "dense:32"), with at least one trainable layer (conv or
      dense) and no conv or pooling after a dense layer.

  Returns:
    tuple of `Conv`, `Pool` and `Dense`.

  Raises:
    ValueError: a string or other non-sequence, an empty description, a bad entry, no
      trainable layer, or a spatial layer after a dense one (one line each).
  """
  want = f"layers must be a sequence of layer entries such as {_EXAMPLE}"
  if isinstance(layers, (str, bytes)):
    raise ValueError(f"{want}, got the string {layers!r} (one layer: ({layers!r},))")
  try:
    entries = tuple(layers)
  except TypeError:
    raise ValueError(f"{want}, got {layers!r}") from None
  if not entries:
    raise ValueError(f"{want}, got an empty sequence")
  parsed = tuple(parse_layer(e, i) for i, e in enumerate(entries))
  if not any(isinstance(layer, (Conv, Dense)) for layer in parsed):
    specs = tuple(layer.spec for layer in parsed)
    raise ValueError(f"layers {specs} have no trainable layer (a conv or a dense one)")
  for i, layer in enumerate(parsed[1:], 1):
    if isinstance(parsed[i - 1], Dense) and not isinstance(layer, Dense):
      raise ValueError(
        f"layer {i} {layer.spec!r} follows a dense layer, whose output is no map; only "
        "dense layers may follow a dense one"
      )
  return parsed


def check_input_shape(shape: Sequence[int]) -> tuple[int, int, int]:
  """An input image shape (H, W, C) of positive integers.

  Args:
    shape: (H, W, C).

  Returns:
    It as a tuple of ints.

  Raises:
    ValueError: not three positive integers (one line).
  """
  dims = tuple(shape) if isinstance(shape, (tuple, list)) else ()
  if len(dims) != 3 or not all(checks.is_int(d) and d >= 1 for d in dims):
    raise ValueError(
      "the input shape must be (height, width, channels), three positive integers such as "
      f"(28, 28, 1), got {shape!r}"
    )
  return int(dims[0]), int(dims[1]), int(dims[2])


def _side(side: int, window: int, stride: int, padding: str) -> int:
  """Output positions along one side (0: the window does not fit)."""
  if padding == "same":
    return -(-side // stride)
  return (side - window) // stride + 1 if side >= window else 0


def _output_shape(layer: Layer, shape: Shape, index: int) -> Shape:
  if isinstance(layer, Dense):
    return (layer.units,)
  h, w, c = shape
  if isinstance(layer, Conv):
    (kh, kw), stride, padding, channels = layer.kernel, layer.stride, layer.padding, layer.channels
    what = "kernel"
  else:
    kh = kw = layer.size
    stride, padding, channels = layer.stride, "valid", c
    what = "window"
  out = (_side(h, kh, stride, padding), _side(w, kw, stride, padding), channels)
  if min(out[:2]) < 1:
    raise ValueError(
      f"layer {index} {layer.spec!r} does not fit its input {h}x{w}x{c}: its {kh}x{kw} "
      f"{what} needs a map of at least {kh}x{kw}; use a smaller {what}, less pooling or a "
      "larger image"
    )
  return out


def output_shapes(layers: Sequence[str | Layer], input_shape: Sequence[int]) -> tuple[Shape, ...]:
  """Every layer's output shape from the input image's.

  Args:
    layers: a layer description (`parse`), or its parsed layers.
    input_shape: (H, W, C) of the input images.

  Returns:
    one shape per layer: (H, W, C) for a map, (units,) after a dense layer.

  Raises:
    ValueError: a bad description or input shape, or a layer that does not fit its input
      (a kernel or window larger than the map: one line naming the layer, its position
      and its input's shape).
  """
  shape: Shape = check_input_shape(input_shape)
  shapes = []
  for i, layer in enumerate(parse(layers)):
    shape = _output_shape(layer, shape, i)
    shapes.append(shape)
  return tuple(shapes)


def same_padding(layer: Conv, side: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
  """The zeros a "same" convolution adds around a map, as XLA's "SAME" puts them (the
  extra one, where the total is odd, after).

  Args:
    layer: a conv layer.
    side: the input map's (H, W).

  Returns:
    ((top, bottom), (left, right)); zeros for a "valid" layer.
  """
  if layer.padding != "same":
    return (0, 0), (0, 0)
  pads = jax.lax.padtype_to_pads(side, layer.kernel, (layer.stride, layer.stride), "SAME")
  (top, bottom), (left, right) = pads
  return (int(top), int(bottom)), (int(left), int(right))
