"""Whole splits of a data set as flat, standardised float32 arrays, for evaluation and the
public API. Built on the random-access sources (`metaunsup.sources`) and `preprocess`;
meta-training reads the same sources by index instead (`task_family`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from metaunsup import preprocess, sources
from metaunsup.sources import DataNotFoundError

__all__ = ["Dataset", "DataNotFoundError", "load", "check_finite"]


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Both splits of one data set, flat and standardised, in host memory.

  Attributes:
    name: the data set's name.
    train_x: [N, D] float32, standardised with the training split's mean and std.
    train_y: [N] int32 labels.
    test_x: [M, D] float32, standardised with the training split's statistics.
    test_y: [M] int32 labels.
    num_classes: K.
  """

  name: str
  train_x: np.ndarray  # [N, D] float32, standardised with the training split's statistics
  train_y: np.ndarray  # [N] int32
  test_x: np.ndarray
  test_y: np.ndarray
  num_classes: int

  @property
  def input_dim(self) -> int:
    """D, features per example (H * W for images)."""
    return self.train_x.shape[1]


def _flat_inputs(src: sources.Source, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  x, y = src.arrays()
  if src.kind == "image":
    x = preprocess.resize(preprocess.to_grayscale(x), image_size)
  return x.reshape(len(x), -1).astype(np.float32), np.asarray(y, np.int32)


def load(name: str, image_size: int = 14) -> Dataset:
  """Train and test split of `name` (any of `sources.NAMES` or a prepared TFDS data set).
  Images are made grayscale and resized to `image_size`; vectors ignore it.

  Args:
    name: e.g. "mnist", "fashion_mnist", "digits", "mnist1d", "alphabet", "reuters".
    image_size: side length in pixels, one of `preprocess.IMAGE_SIZES` (8, 14, 16, 28).

  Returns:
    `Dataset` with train_x [N, D], test_x [M, D] (D = image_size^2 for images).

  Raises:
    TypeError: name is not a non-empty string.
    ValueError: an image_size outside `preprocess.IMAGE_SIZES`, or NaN / inf in the data.
    DataNotFoundError: the data set is not prepared and its raw files are missing (run
      `make data`).
    CorruptDataError: a prepared or raw file is damaged (the message names it and the fix).
  """
  if not isinstance(name, str) or not name:
    raise TypeError(f"data set name must be a non-empty string such as 'mnist', got {name!r}")
  if image_size not in preprocess.IMAGE_SIZES:
    raise ValueError(f"image_size must be one of {preprocess.IMAGE_SIZES}, got {image_size!r}")
  train, test = sources.get(name, "train"), sources.get(name, "test")
  (train_x, train_y), (test_x, test_y) = (_flat_inputs(s, image_size) for s in (train, test))
  standardize = preprocess.Standardizer.fit(train_x)
  ds = Dataset(name, standardize(train_x), train_y, standardize(test_x), test_y, train.num_classes)
  check_finite(ds)
  return ds


def check_finite(ds: Dataset) -> None:
  """Raise a one-line ValueError when a split of ds holds NaN or inf.

  Args:
    ds: the data set.

  Raises:
    ValueError: naming the data set and the split.
  """
  for split in ("train_x", "test_x"):
    if not np.all(np.isfinite(getattr(ds, split))):
      raise ValueError(f"{ds.name}.{split} contains NaN or inf; clean the data first")
