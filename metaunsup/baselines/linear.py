"""Reference points without a network: PCA of the unlabeled training data (numpy SVD)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class PCA:
  """A fitted principal subspace (`fit_pca`).

  Attributes:
    mean: [D] float32, the training data's mean.
    components: [dim, D] float32, orthonormal rows by decreasing variance.
  """

  mean: np.ndarray
  components: np.ndarray

  def transform(self, x) -> np.ndarray:
    """Coordinates in the principal subspace.

    Args:
      x: [N, D] inputs.

    Returns:
      [N, dim] float32, (x - mean) @ components.T.

    Raises:
      ValueError: (one line) if x is not [N, D].
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
      raise ValueError(f"x must be [examples, {self.mean.shape[0]}], got shape {x.shape}")
    return (x - self.mean) @ self.components.T


def fit_pca(x_train, dim: int = 32) -> PCA:
  """Top principal directions of the (unlabeled) training data, by numpy's SVD of the
  mean-centred data. Each component's sign is fixed (largest-magnitude entry positive) so a
  fit is reproducible.

  Args:
    x_train: [N, D] finite inputs.
    dim: the number of components, 1 <= dim <= min(N, D).

  Returns:
    The fitted `PCA`.

  Raises:
    ValueError: (one line) if x_train is not a finite 2-D array or dim is out of range.
  """
  x = np.asarray(x_train, np.float64)
  if x.ndim != 2 or not np.all(np.isfinite(x)):
    raise ValueError(
      f"x_train must be a finite 2-D array [examples, features], got shape {x.shape}"
    )
  if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= min(x.shape):
    raise ValueError(
      f"dim must be an integer in [1, {min(x.shape)}] (examples and "
      f"features of x_train), got {dim!r}"
    )
  mean = x.mean(axis=0)
  components = np.linalg.svd(x - mean, full_matrices=False)[2][:dim]
  signs = np.sign(components[np.arange(dim), np.argmax(np.abs(components), axis=1)])
  return PCA(
    mean=mean.astype(np.float32), components=(components * signs[:, None]).astype(np.float32)
  )
