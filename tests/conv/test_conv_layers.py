"""A conv network's layer description (metaunsup/conv/layers.py): entries parse to layers,
each layer's output shape follows from the image's, and every bad description or a layer
that does not fit is one line naming the entry and what is accepted."""

import pytest

from metaunsup.conv import layers

ISSUE_EXAMPLE = ("conv5x5:32", "pool2", "conv3x3:64", "pool2", "dense:32")


def test_the_issue_s_example_and_each_form_parse():
  assert layers.parse(ISSUE_EXAMPLE) == (
    layers.Conv((5, 5), 1, "valid", 32),
    layers.Pool("max", 2, 2),
    layers.Conv((3, 3), 1, "valid", 64),
    layers.Pool("max", 2, 2),
    layers.Dense(32),
  )
  got = layers.parse(("conv5x3s2same:8", "MaxPool3s2", "avgpool2", "conv1x1valid:4", "dense:2"))
  assert got == (
    layers.Conv((5, 3), 2, "same", 8),
    layers.Pool("max", 3, 2),
    layers.Pool("avg", 2, 2),
    layers.Conv((1, 1), 1, "valid", 4),
    layers.Dense(2),
  )
  # The canonical form reads back as the same layer.
  assert layers.parse([layer.spec for layer in got]) == got
  assert [layer.spec for layer in got] == [
    "conv5x3s2same:8",
    "pool3s2",
    "avgpool2",
    "conv1x1:4",
    "dense:2",
  ]


def test_output_shapes_valid_same_strided_and_pooled():
  assert layers.output_shapes(ISSUE_EXAMPLE, (28, 28, 1)) == (
    (24, 24, 32),
    (12, 12, 32),
    (10, 10, 64),
    (5, 5, 64),
    (32,),
  )
  # "same": ceil(H / stride) positions; a pooling window that does not fit the last rows
  # is dropped (7 -> 3 with windows of 3 at stride 2).
  same = ("conv5x5same:8", "pool2", "conv3x3s2same:16", "pool3s2", "dense:4")
  assert layers.output_shapes(same, (28, 28, 3)) == (
    (28, 28, 8),
    (14, 14, 8),
    (7, 7, 16),
    (3, 3, 16),
    (4,),
  )
  # A kernel that covers the whole image gives one position: the dense layer's shape.
  assert layers.output_shapes(("conv28x28:32",), (28, 28, 1)) == ((1, 1, 32),)
  assert layers.output_shapes(("conv5x5s3:2",), (11, 9, 1)) == ((3, 2, 2),)


BAD_ENTRIES = [
  "conv5:32",
  "conv5x5",
  "conv3x3:0",
  "conv0x3:4",
  "conv3x3s0:4",
  "pool",
  "pool0",
  "minpool2",
  "dense",
  "dense:-1",
  "dense:3.5",
  "fc:32",
  32,
  None,
]


@pytest.mark.parametrize("entry", BAD_ENTRIES, ids=repr)
def test_a_bad_entry_is_one_line_naming_it_and_the_forms(entry):
  with pytest.raises(ValueError) as e:
    layers.parse(("conv3x3:4", entry))
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith(f"layer 1 {entry!r} ")
  assert "conv5x5:32" in message and "avgpool" in message and "dense:N" in message


@pytest.mark.parametrize(
  "description, match",
  [
    ("conv3x3:4", "got the string 'conv3x3:4' \\(one layer: \\('conv3x3:4',\\)\\)"),
    ((), "got an empty sequence"),
    (3, "got 3"),
    (("pool2", "avgpool2"), "have no trainable layer"),
    (("dense:8", "conv3x3:4"), "layer 1 'conv3x3:4' follows a dense layer"),
    (("conv3x3:4", "dense:8", "pool2"), "layer 2 'pool2' follows a dense layer"),
  ],
)
def test_bad_descriptions_are_one_line(description, match):
  with pytest.raises(ValueError, match=match) as e:
    layers.parse(description)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize(
  "description, shape, match",
  [
    (
      ("conv5x5:4", "pool2", "pool2", "pool2"),
      (8, 8, 1),
      "layer 3 'pool2' does not fit its input 1x1x4: its 2x2 window needs a map of at least 2x2",
    ),
    (("conv9x9:4",), (8, 8, 1), "layer 0 'conv9x9:4' does not fit its input 8x8x1: its 9x9 kernel"),
    (("conv3x3:4",), (28, 28), "input shape must be \\(height, width, channels\\)"),
    (("conv3x3:4",), (28, 0, 1), "three positive integers"),
    (("conv3x3:4",), (28.0, 28, 1), "three positive integers"),
  ],
)
def test_a_layer_that_does_not_fit_or_a_bad_image_shape_is_one_line(description, shape, match):
  with pytest.raises(ValueError, match=match) as e:
    layers.output_shapes(description, shape)
  assert "\n" not in str(e.value)


def test_same_padding_is_xla_s():
  # Even totals split evenly, odd ones put the extra zero after, as XLA's "SAME".
  assert layers.same_padding(layers.Conv((5, 4), 1, "same", 1), (28, 28)) == ((2, 2), (1, 2))
  assert layers.same_padding(layers.Conv((3, 3), 2, "same", 1), (28, 28)) == ((0, 1), (0, 1))
  assert layers.same_padding(layers.Conv((3, 3), 1, "valid", 1), (28, 28)) == ((0, 0), (0, 0))
