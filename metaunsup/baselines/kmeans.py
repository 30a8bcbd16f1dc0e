"""k-means with K centroids and the "triangle" code of Coates & Ng (AISTATS 2011), "An
Analysis of Single-Layer Networks in Unsupervised Feature Learning": a reference point
without a network, fitted by scikit-learn on the unlabeled training data. Online k-means is
itself a competitive local rule (`metaunsup.rules.zoo.competitive`); this is its batch optimum."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.cluster import KMeans


@dataclasses.dataclass(frozen=True, eq=False)
class TriangleKMeans:
  """Fitted centroids (`fit_kmeans`) and the triangle code over them.

  Attributes:
    centroids: [K, D] float32.
  """

  centroids: np.ndarray

  def transform(self, x) -> np.ndarray:
    """The triangle code f_k(x) = max(0, mean_j d_j - d_k), d_k the Euclidean distance from
    x to centroid c_k (Coates & Ng 2011, Sec. 3.2): a centroid's feature is on when x is
    nearer to it than to the average centroid.

    Args:
      x: [N, D] inputs.

    Returns:
      [N, K] float32, non-negative.

    Raises:
      ValueError: (one line) if x is not [N, D].
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != self.centroids.shape[1]:
      raise ValueError(f"x must be [examples, {self.centroids.shape[1]}], got shape {x.shape}")
    sq = (x**2).sum(1)[:, None] - 2 * x @ self.centroids.T + (self.centroids**2).sum(1)[None]
    d = np.sqrt(np.maximum(sq, 0.0))
    return np.maximum(0.0, d.mean(1, keepdims=True) - d).astype(np.float32)


def fit_kmeans(x_train, k: int = 32, seed: int = 0, n_init: int = 1) -> TriangleKMeans:
  """k-means (scikit-learn's Lloyd iterations, k-means++ starts) on the unlabeled training
  data.

  Args:
    x_train: [N, D] finite inputs.
    k: centroids, 1 <= k <= N.
    seed: seeds the starts.
    n_init: starts; the one of lowest inertia is kept.

  Returns:
    The fitted `TriangleKMeans`.

  Raises:
    ValueError: (one line) if x_train is not a finite 2-D array or k is out of range.
  """
  x = np.asarray(x_train, np.float32)
  if x.ndim != 2 or not np.all(np.isfinite(x)):
    raise ValueError(
      f"x_train must be a finite 2-D array [examples, features], got shape {x.shape}"
    )
  if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= x.shape[0]:
    raise ValueError(f"k must be an integer in [1, {x.shape[0]}] (examples of x_train), got {k!r}")
  km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
  return TriangleKMeans(centroids=km.cluster_centers_.astype(np.float32))
