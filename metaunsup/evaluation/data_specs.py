"""Which held-out data set an evaluation reads: a spec string such as 'mnist@28+perm'
parsed into a `DataSpec` and loaded (images resized, pixels optionally permuted)."""

from __future__ import annotations

import dataclasses

import numpy as np

from metaunsup import data


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """One held-out data set of an evaluation, written 'mnist@14' (image size),
  'mnist@28+perm' (a fixed random pixel permutation) or 'reuters'.

  Attributes:
    name: a data set name `metaunsup.data.load` knows.
    image_size: images are resized to image_size x image_size pixels (ignored for text).
    permuted: whether the input columns are shuffled by a fixed, seeded permutation (the
      paper's permuted-pixel generalisation test).
  """

  name: str
  image_size: int = 14
  permuted: bool = False

  @classmethod
  def parse(cls, spec: str) -> "DataSpec":
    """Parses NAME, NAME@SIZE or NAME@SIZE+perm (SIZE defaults to 14).

    Args:
      spec: the spec string, e.g. 'mnist@28+perm'.

    Returns:
      The `DataSpec`; no data is read.

    Raises:
      ValueError: (one line) if the spec has no name or a non-integer size.
    """
    body, permuted = (spec[:-5], True) if spec.endswith("+perm") else (spec, False)
    name, _, size = body.partition("@")
    if not name or (size and not size.isdigit()):
      raise ValueError(
        f"data set spec {spec!r} is malformed; write NAME, NAME@SIZE or "
        "NAME@SIZE+perm, e.g. 'mnist@28+perm'"
      )
    return cls(name, int(size) if size else 14, permuted)

  def load(self, seed: int) -> data.Dataset:
    """Loads both splits from the prepared data (no network).

    Args:
      seed: seeds the pixel permutation when `permuted` (the same permutation for both
        splits); unused otherwise.

    Returns:
      The `data.Dataset` (train_x [N, D], test_x [M, D] float32, standardised; labels
      [N] / [M]); a permuted one is named '<name>+perm'.

    Raises:
      data.DataNotFoundError: if the data set is not prepared (`make data` fixes it).
    """
    ds = data.load(self.name, self.image_size)
    if not self.permuted:
      return ds
    perm = np.random.default_rng(seed).permutation(ds.input_dim)
    return dataclasses.replace(
      ds, name=f"{ds.name}+perm", train_x=ds.train_x[:, perm], test_x=ds.test_x[:, perm]
    )


def image_side(ds: data.Dataset) -> int | None:
  """The side of square images, for drawing receptive fields.

  Args:
    ds: a loaded data set with ds.input_dim features.

  Returns:
    side with side * side == ds.input_dim, or None if the inputs are not square images.
  """
  side = int(round(np.sqrt(ds.input_dim)))
  return side if side * side == ds.input_dim else None
