"""Reference points without a network: PCA of the unlabeled training data (numpy SVD)."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class PCA:
  mean: np.ndarray        # [D]
  components: np.ndarray  # [dim, D], orthonormal rows by decreasing variance

  def transform(self, x) -> np.ndarray:
    """Coordinates of x [N, D] in the principal subspace: [N, dim]."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
      raise ValueError(f"x must be [examples, {self.mean.shape[0]}], got shape {x.shape}")
    return (x - self.mean) @ self.components.T


def fit_pca(x_train, dim: int = 32) -> PCA:
  """Top `dim` principal directions of x_train [N, D], mean-centred. Each component's sign
  is fixed (largest-magnitude entry positive) so a fit is reproducible."""
  x = np.asarray(x_train, np.float64)
  if x.ndim != 2 or not np.all(np.isfinite(x)):
    raise ValueError(f"x_train must be a finite 2-D array [examples, features], "
                     f"got shape {x.shape}")
  if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= min(x.shape):
    raise ValueError(f"dim must be an integer in [1, {min(x.shape)}] (examples and "
                     f"features of x_train), got {dim!r}")
  mean = x.mean(axis=0)
  components = np.linalg.svd(x - mean, full_matrices=False)[2][:dim]
  signs = np.sign(components[np.arange(dim), np.argmax(np.abs(components), axis=1)])
  return PCA(mean=mean.astype(np.float32),
             components=(components * signs[:, None]).astype(np.float32))
