"""Image data sets as images [N, H, W, 1] for the convolutional network (issue 38), not
flattened: `metaunsup.data.load`'s standardised arrays, reshaped. `data.load` flattens each
[H, W] image in numpy's C order, row after row from the top, so the reshape gives back the
images as the sources hold them (tested against the raw pixels)."""

from __future__ import annotations

import dataclasses

import numpy as np

from metaunsup import data, sources


@dataclasses.dataclass(frozen=True)
class Images:
  """Both splits of one image data set as grayscale images, standardised as `data.load`
  standardises them (the training split's mean and std over all pixels).

  Attributes:
    name: the data set's name.
    train_x: [N, S, S, 1] float32.
    train_y: [N] int32 labels.
    test_x: [M, S, S, 1] float32.
    test_y: [M] int32 labels.
    num_classes: K.
  """

  name: str
  train_x: np.ndarray
  train_y: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  num_classes: int


def load(name: str, image_size: int = 28) -> Images:
  """An image data set's splits as images, e.g. "mnist", "fashion_mnist", "alphabet" at
  28x28 (their native size: no resampling).

  Args:
    name: an image data set of `data.load` (a source of kind "image").
    image_size: side S in pixels, one of `preprocess.IMAGE_SIZES`.

  Returns:
    `Images` with train_x [N, S, S, 1] and test_x [M, S, S, 1].

  Raises:
    ValueError: a data set of vectors (one line naming its kind), or what `data.load`
      raises (a bad image_size, NaN or inf).
    DataNotFoundError, CorruptDataError: as `data.load`.
  """
  kind = sources.get(name, "train").kind
  if kind != "image":
    raise ValueError(f"{name!r} holds vectors, not images; a conv network needs an image data set")
  ds = data.load(name, image_size)
  shape = (image_size, image_size, 1)
  return Images(
    ds.name,
    ds.train_x.reshape((-1,) + shape),
    ds.train_y,
    ds.test_x.reshape((-1,) + shape),
    ds.test_y,
    ds.num_classes,
  )
