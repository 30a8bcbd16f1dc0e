"""FastICA with K components (Hyvärinen & Oja 2000, "Independent component analysis:
algorithms and applications"): a reference point without a network, fitted by scikit-learn
on the unlabeled training data; next to PCA-32, the classic linear code that seeks
non-Gaussian, sparse directions instead of high-variance ones."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning


@dataclasses.dataclass(frozen=True, eq=False)
class ICA:
  """A fitted unmixing (`fit_ica`).

  Attributes:
    mean: [D] float32, the training data's mean.
    unmixing: [K, D] float32; the sources of x are (x - mean) @ unmixing.T.
  """

  mean: np.ndarray
  unmixing: np.ndarray

  def transform(self, x) -> np.ndarray:
    """The independent components of x.

    Args:
      x: [N, D] inputs.

    Returns:
      [N, K] float32, unit variance on the training data.

    Raises:
      ValueError: (one line) if x is not [N, D].
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
      raise ValueError(f"x must be [examples, {self.mean.shape[0]}], got shape {x.shape}")
    return (x - self.mean) @ self.unmixing.T


def fit_ica(x_train, k: int = 32, seed: int = 0, max_iter: int = 400) -> ICA:
  """FastICA (scikit-learn: PCA whitening to k dimensions, then the parallel fixed-point
  iteration with the logcosh contrast).

  Args:
    x_train: [N, D] finite inputs.
    k: components, 1 <= k <= min(N, D).
    seed: seeds the initial unmixing.
    max_iter: fixed-point iterations; not converging there is accepted (the components are
      still a whitened rotation, a valid 32-d code), as in the references that use it.

  Returns:
    The fitted `ICA`.

  Raises:
    ValueError: (one line) if x_train is not a finite 2-D array or k is out of range.
  """
  x = np.asarray(x_train, np.float64)
  if x.ndim != 2 or not np.all(np.isfinite(x)):
    raise ValueError(
      f"x_train must be a finite 2-D array [examples, features], got shape {x.shape}"
    )
  if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(x.shape):
    raise ValueError(
      f"k must be an integer in [1, {min(x.shape)}] (examples and features of x_train), got {k!r}"
    )
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ica = FastICA(n_components=k, whiten="unit-variance", random_state=seed, max_iter=max_iter).fit(
      x
    )
  return ICA(mean=ica.mean_.astype(np.float32), unmixing=ica.components_.astype(np.float32))
