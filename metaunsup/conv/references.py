"""Conv reference points without a learned rule (issue 38 item 3): the single-layer patch
features of Coates, Lee & Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature
Learning" (AISTATS 2011), on images [N, H, W, C]::

  fit_patch_kmeans(images, k=32, patch_size=6) -> PatchKMeans  .features(x) -> [N, 4 k]
  fit_patch_pca(images, dim=16, patch_size=6) -> PatchPCA       .features(x) -> [N, 8 dim]

Both cut `patches` random patch_size x patch_size patches (seeded) from the unlabeled
images, flattened in (row, column, channel) order as `network.patches` flattens them, and
normalise each one: its own mean subtracted, divided by sqrt(var + `NORM_EPS`). The paper's
epsilon is 10 on pixels in [0, 255], whose std on CIFAR-10 is about 64, i.e. about 0.0025
of the pixel variance; our images are standardised (`conv.images.load`: all pixels' std 1),
and on MNIST most patches are background or a stroke's edge whose variance is tiny, so
`NORM_EPS` = 0.1 (a tenth of the images' variance) keeps such patches from being blown up
to unit contrast. Then:

- patch k-means: ZCA whitening of the normalised patches (epsilon `ZCA_EPS` = 0.1, the
  paper's, which carries over because normalised patches have per-pixel variance near 1
  whatever the images' scale), k-means with k centroids on the whitened patches
  (`baselines.kmeans.fit_kmeans`, scikit-learn), and at every position of an image (stride
  1, "valid") the triangle code f_k = max(0, mean_j z_j - z_k), z_k the distance of the
  normalised, whitened patch to centroid k (`baselines.kmeans.TriangleKMeans.transform`).
- patch PCA: the top dim principal directions of the normalised patches (not whitened:
  whitening would only rescale the projections; `baselines.linear.fit_pca`), and at every
  position both halves of each projection p, max(0, p) and max(0, -p): 2 dim maps, so a
  direction and its negative are separate features, as a rectified filter bank has them.

Each map is then pooled over the 4 quadrants of the image's map (the paper's pooling):
rows split at Ho // 2, columns at Wo // 2 (on 28x28 images and 6x6 patches the 23x23 map
splits 11 + 12), features ordered quadrant-major (top-left, top-right, bottom-left,
bottom-right; within one, the maps in order). `features` averages over each quadrant by
default (pool="mean": the paper's sum divided by the quadrant's positions); pool="sum" gives
the paper's sums. The two differ by a constant per quadrant, but the package's ridge head
(`heads.fewshot_accuracy`) has a fixed lambda (0.1) and does not standardise, so the scale
is its regularisation: on MNIST (10-shot, k=32, 128 features for 100 support images) the
sums, about 130 times larger, leave the ridge near the interpolation threshold and it does
worse than on raw pixels, while the means do much better (tests/conv/test_conv_references.py).

A random convolutional network (random filters, no learning) needs nothing here:
`conv.apply_rule(rule, images, layers=..., steps=0)` returns the random network of its seed
with any rule.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from metaunsup import checks
from metaunsup.baselines.kmeans import TriangleKMeans, fit_kmeans
from metaunsup.baselines.linear import PCA, fit_pca

# Added to each patch's variance before dividing by its std (see the module docstring).
NORM_EPS = 0.1
# Added to the eigenvalues of the normalised patches' covariance in ZCA whitening.
ZCA_EPS = 0.1
# Random patches the references are fitted on by default.
DEFAULT_PATCHES = 20000
# Patch positions per chunk in `features`: memory grows with this many patches.
FEATURE_ROWS = 65536


def _images(x: Any, name: str, channels: int | None = None, patch_size: int | None = None):
  """x as finite float32 images [N, H, W, C] (with `channels` and room for a 2 x 2 map of
  patch_size patches where given), or a one-line error."""
  x = np.asarray(x)
  if x.ndim != 4:
    hint = " (add a channel axis: x[..., None])" if x.ndim == 3 else ""
    raise ValueError(f"{name} must be images [N, H, W, C], got shape {x.shape}{hint}")
  if x.dtype.kind not in "biuf":
    raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
  if channels is not None and x.shape[3] != channels:
    raise ValueError(f"{name} has {x.shape[3]} channels, the reference was fitted on {channels}")
  if patch_size is not None and min(x.shape[1:3]) < patch_size + 1:
    raise ValueError(
      f"{name} has images of {x.shape[1]}x{x.shape[2]}; {patch_size}x{patch_size} patches "
      f"need at least {patch_size + 1}x{patch_size + 1} (a map of 2x2 positions to pool)"
    )
  return checks.finite_float32(x, name)


def _windows(x: np.ndarray, patch_size: int) -> np.ndarray:
  """Every patch of x (stride 1, valid) as a view [N, Ho, Wo, C, p, p]."""
  return np.lib.stride_tricks.sliding_window_view(x, (patch_size, patch_size), axis=(1, 2))


def _flatten(windows: np.ndarray) -> np.ndarray:
  """Patches [..., C, p, p] flattened in (row, column, channel) order: [..., p * p * C]."""
  moved = np.moveaxis(windows, -3, -1)
  return moved.reshape(moved.shape[:-3] + (-1,))


def normalize(patches: np.ndarray, eps: float = NORM_EPS) -> np.ndarray:
  """Each patch minus its mean, divided by sqrt(its variance + eps) (Coates et al. 2011,
  Sec. 3.1.1).

  Args:
    patches: [P, D] flattened patches.
    eps: added to the variance (`NORM_EPS`).

  Returns:
    [P, D] float32.
  """
  patches = np.asarray(patches, np.float32)
  centred = patches - patches.mean(1, keepdims=True)
  return centred / np.sqrt(centred.var(1, keepdims=True) + eps)


def _check_fit(images, patch_size, patches, seed, norm_eps) -> tuple[np.ndarray, int, int, int]:
  """The checked images and counts of a fit, or a one-line error."""
  x = _images(images, "images")
  side = min(x.shape[1:3])
  patch_size = checks.integer(patch_size, "patch_size", 1, side - 1)
  patches = checks.integer(patches, "patches", 1)
  seed = checks.seed(seed)
  if len(x) < 1:
    raise ValueError("images is empty; pass at least one image")
  if not (isinstance(norm_eps, (int, float)) and np.isfinite(norm_eps) and norm_eps > 0):
    raise ValueError(f"norm_eps must be a finite number > 0, got {norm_eps!r}")
  return x, patch_size, patches, seed


def random_patches(images, patch_size: int, patches: int, seed: int = 0) -> np.ndarray:
  """Patches at uniformly random (image, row, column), with replacement.

  Args:
    images: [N, H, W, C] finite images.
    patch_size: the patches' side p, 1 <= p < min(H, W).
    patches: how many, P >= 1.
    seed: seeds numpy's generator, in [0, 2**32 - 1].

  Returns:
    [P, p * p * C] float32, flattened in (row, column, channel) order, not normalised.

  Raises:
    ValueError: (one line) images not finite [N, H, W, C] with N >= 1, or a count or the
      seed out of range.
  """
  x, patch_size, patches, seed = _check_fit(images, patch_size, patches, seed, NORM_EPS)
  view = _windows(x, patch_size)
  rng = np.random.default_rng(seed)
  n = rng.integers(view.shape[0], size=patches)
  i = rng.integers(view.shape[1], size=patches)
  j = rng.integers(view.shape[2], size=patches)
  return _flatten(view[n, i, j])


POOLS = ("mean", "sum")


def _quadrants(maps: np.ndarray, pool: str) -> np.ndarray:
  """Maps [N, Ho, Wo, M] pooled over their 4 quadrants: [N, 4 M], quadrant-major."""
  h, w = maps.shape[1] // 2, maps.shape[2] // 2
  quads = (maps[:, :h, :w], maps[:, :h, w:], maps[:, h:, :w], maps[:, h:, w:])
  reduce = np.mean if pool == "mean" else np.sum
  return np.concatenate([reduce(q, axis=(1, 2)) for q in quads], axis=1)


@dataclasses.dataclass(frozen=True, eq=False)
class _PatchFeatures:
  """What both references share: the patch size, the normalisation and the pooled maps."""

  patch_size: int
  channels: int
  norm_eps: float

  def _maps(self, patches: np.ndarray) -> np.ndarray:
    """Normalised patches [P, D] to their feature maps' values [P, M]."""
    raise NotImplementedError

  @property
  def maps(self) -> int:
    """Feature maps per position, M."""
    raise NotImplementedError

  def features(self, x: Any, pool: str = "mean") -> np.ndarray:
    """The pooled features of images, computed in chunks of about `FEATURE_ROWS` patch
    positions so memory stays bounded.

    Args:
      x: [N, H, W, C] finite images, C the fitted images' channels, H and W at least
        patch_size + 1 (any size: the quadrants are the map's).
      pool: "mean" (each quadrant's average) or "sum" (its sum, the paper's); module
        docstring.

    Returns:
      [N, 4 M] float32, M the maps per position (k for patch k-means, 2 dim for patch
      PCA), non-negative.

    Raises:
      ValueError: (one line) x is not real, finite [N, H, W, C] with the fitted channels
        and room for a 2x2 map; an unknown pool.
    """
    if pool not in POOLS:
      raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    x = _images(x, "x", self.channels, self.patch_size)
    view = _windows(x, self.patch_size)
    ho, wo = view.shape[1:3]
    chunk = max(1, FEATURE_ROWS // (ho * wo))
    out = [np.zeros((0, 4 * self.maps), np.float32)]
    for start in range(0, len(x), chunk):
      rows = _flatten(view[start : start + chunk])  # [n, Ho, Wo, D], a copy of this chunk
      flat = normalize(rows.reshape(-1, rows.shape[-1]), self.norm_eps)
      maps = self._maps(flat).reshape(rows.shape[:3] + (self.maps,))
      out.append(_quadrants(maps, pool).astype(np.float32))
    return np.concatenate(out)


@dataclasses.dataclass(frozen=True, eq=False)
class PatchKMeans(_PatchFeatures):
  """Patch k-means with the triangle code (`fit_patch_kmeans`).

  Attributes:
    patch_size: the patches' side p.
    channels: the images' channels C.
    norm_eps: the normalisation's epsilon.
    zca_mean: [p * p * C] float32, the normalised patches' mean.
    zca: [D, D] float32, the symmetric ZCA whitening matrix, D = p * p * C.
    kmeans: the centroids in whitened space and their triangle code.
  """

  zca_mean: np.ndarray
  zca: np.ndarray
  kmeans: TriangleKMeans

  @property
  def maps(self) -> int:
    """Feature maps per position: the centroids, k."""
    return self.kmeans.centroids.shape[0]

  def whiten(self, patches: np.ndarray) -> np.ndarray:
    """Normalised patches [P, D] whitened: (patches - zca_mean) @ zca."""
    return (patches - self.zca_mean) @ self.zca

  def _maps(self, patches: np.ndarray) -> np.ndarray:
    return self.kmeans.transform(self.whiten(patches))


@dataclasses.dataclass(frozen=True, eq=False)
class PatchPCA(_PatchFeatures):
  """Patch PCA with rectified projections (`fit_patch_pca`).

  Attributes:
    patch_size: the patches' side p.
    channels: the images' channels C.
    norm_eps: the normalisation's epsilon.
    pca: the principal directions of the normalised patches.
  """

  pca: PCA

  @property
  def maps(self) -> int:
    """Feature maps per position: max(0, p) then max(0, -p) of each of dim directions."""
    return 2 * self.pca.components.shape[0]

  def _maps(self, patches: np.ndarray) -> np.ndarray:
    p = self.pca.transform(patches)
    return np.concatenate([np.maximum(p, 0.0), np.maximum(-p, 0.0)], axis=1)


def fit_patch_kmeans(
  images,
  k: int = 32,
  patch_size: int = 6,
  patches: int = DEFAULT_PATCHES,
  seed: int = 0,
  norm_eps: float = NORM_EPS,
  zca_eps: float = ZCA_EPS,
  n_init: int = 1,
) -> PatchKMeans:
  """Coates et al. (2011)'s single-layer k-means features, fitted on unlabeled images:
  random patches, normalised, ZCA-whitened, clustered (module docstring).

  Args:
    images: [N, H, W, C] finite unlabeled images, N >= 1.
    k: centroids, 1 <= k <= patches.
    patch_size: the patches' side p, 1 <= p < min(H, W).
    patches: random patches to fit on, >= 1.
    seed: seeds the patches' positions and the k-means starts, in [0, 2**32 - 1].
    norm_eps: added to each patch's variance (`NORM_EPS`), > 0.
    zca_eps: added to the covariance's eigenvalues (`ZCA_EPS`), > 0.
    n_init: k-means starts (scikit-learn), the one of lowest inertia kept.

  Returns:
    The fitted `PatchKMeans`; its `features` are [N, 4 k].

  Raises:
    ValueError: (one line) images not real, finite [N, H, W, C]; k, patch_size, patches,
      n_init or the seed out of range; an epsilon not a finite number > 0.
  """
  x, patch_size, patches, seed = _check_fit(images, patch_size, patches, seed, norm_eps)
  k = checks.integer(k, "k", 1, patches)
  n_init = checks.integer(n_init, "n_init", 1)
  if not (isinstance(zca_eps, (int, float)) and np.isfinite(zca_eps) and zca_eps > 0):
    raise ValueError(f"zca_eps must be a finite number > 0, got {zca_eps!r}")
  flat = normalize(random_patches(x, patch_size, patches, seed), norm_eps).astype(np.float64)
  mean = flat.mean(0)
  eigval, eigvec = np.linalg.eigh(np.cov(flat - mean, rowvar=False, bias=True))
  zca = (eigvec / np.sqrt(np.maximum(eigval, 0.0) + zca_eps)) @ eigvec.T
  whitened = (flat - mean) @ zca
  return PatchKMeans(
    patch_size=patch_size,
    channels=x.shape[3],
    norm_eps=float(norm_eps),
    zca_mean=mean.astype(np.float32),
    zca=zca.astype(np.float32),
    kmeans=fit_kmeans(whitened, k=k, seed=seed, n_init=n_init),
  )


def fit_patch_pca(
  images,
  dim: int = 16,
  patch_size: int = 6,
  patches: int = DEFAULT_PATCHES,
  seed: int = 0,
  norm_eps: float = NORM_EPS,
) -> PatchPCA:
  """Patch PCA: the top principal directions of random normalised patches (module
  docstring), each giving two rectified maps.

  Args:
    images: [N, H, W, C] finite unlabeled images, N >= 1.
    dim: principal directions, 1 <= dim <= min(patches, p * p * C).
    patch_size: the patches' side p, 1 <= p < min(H, W).
    patches: random patches to fit on, >= 1.
    seed: seeds the patches' positions, in [0, 2**32 - 1].
    norm_eps: added to each patch's variance (`NORM_EPS`), > 0.

  Returns:
    The fitted `PatchPCA`; its `features` are [N, 8 dim] (2 dim maps, 4 quadrants).

  Raises:
    ValueError: (one line) images not real, finite [N, H, W, C]; dim, patch_size, patches
      or the seed out of range; norm_eps not a finite number > 0.
  """
  x, patch_size, patches, seed = _check_fit(images, patch_size, patches, seed, norm_eps)
  dim = checks.integer(dim, "dim", 1, min(patches, patch_size * patch_size * x.shape[3]))
  flat = normalize(random_patches(x, patch_size, patches, seed), norm_eps)
  return PatchPCA(
    patch_size=patch_size,
    channels=x.shape[3],
    norm_eps=float(norm_eps),
    pca=fit_pca(flat, dim=dim),
  )
