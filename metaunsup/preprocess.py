"""Input preprocessing: resizing, grayscale, standardisation (host side, numpy) and the
random augmentations whose parameters become extra regression targets of the
meta-objective, as in the paper (device side, JAX, inside the jitted meta-step)."""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np

IMAGE_SIZES = (8, 14, 16, 28)
AUGMENTATIONS = ("shift", "rotation", "noise")


def resize_matrix(src: int, dst: int) -> np.ndarray:
  """[dst, src] box-filter weights: output pixel i averages the input interval it covers
  (exact block means when src is a multiple of dst, area interpolation otherwise).

  Args:
    src: input side length, pixels.
    dst: output side length, pixels.

  Returns:
    [dst, src] float32, each row summing to 1.
  """
  edges = np.linspace(0.0, src, dst + 1)
  lo, hi = edges[:-1, None], edges[1:, None]
  cells = np.arange(src)[None, :]
  overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0.0, None)
  return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


def resize(images: np.ndarray, size: int) -> np.ndarray:
  """[n, H, W] -> [n, size, size] by separable area interpolation (one einsum).

  Args:
    images: [n, H, W] grayscale images.
    size: output side length, pixels.

  Returns:
    [n, size, size] float32 (a float32 copy when already that size).

  Raises:
    ValueError: images are not of rank 3.
  """
  if images.ndim != 3:
    raise ValueError(f"resize expects images [n, H, W], got shape {images.shape}")
  if images.shape[1:] == (size, size):
    return images.astype(np.float32)
  rows, cols = resize_matrix(images.shape[1], size), resize_matrix(images.shape[2], size)
  return np.einsum("ih,nhw,jw->nij", rows, images.astype(np.float32), cols, optimize=True)


def to_grayscale(images: np.ndarray) -> np.ndarray:
  """[n, H, W, C] colour (C = 3 or 4) -> [n, H, W] luminance; grayscale passes through.

  Luminance weights 0.299, 0.587, 0.114 (ITU-R BT.601); an alpha channel is dropped.

  Args:
    images: [n, H, W], [n, H, W, 1], [n, H, W, 3] or [n, H, W, 4].

  Returns:
    [n, H, W] (float32 when converted; otherwise the input's dtype).
  """
  if images.ndim == 4 and images.shape[-1] == 1:
    return images[..., 0]
  if images.ndim == 4 and images.shape[-1] in (3, 4):
    return images[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  return images


@dataclasses.dataclass(frozen=True)
class Standardizer:
  """One mean and std per data set, fitted on its training split.

  Calling it maps x to float32 (x - mean) / std, any shape.

  Attributes:
    mean: the training split's mean over all values.
    std: its standard deviation (1.0 when it is 0).
  """

  mean: float
  std: float

  @classmethod
  def fit(cls, x: np.ndarray) -> "Standardizer":
    """The standardizer of x (all values pooled), e.g. a training split [N, D]."""
    std = float(np.std(x))
    return cls(float(np.mean(x)), std if std > 0 else 1.0)

  @classmethod
  def fit_finite(cls, x: np.ndarray, whose: str) -> "Standardizer":
    """`fit`, refusing data whose mean or std overflows float32 (apply_rule's inputs).

    Args:
      x: the data, any shape (all values pooled).
      whose: the data's name as a possessive, for the message (e.g. "x_unlabeled's").

    Returns:
      The fitted `Standardizer`.

    Raises:
      ValueError: the mean or std is not finite (one line).
    """
    fitted = cls.fit(x)
    if not np.isfinite([fitted.mean, fitted.std]).all():
      raise ValueError(
        f"{whose} values are too large to standardise in float32 (their mean or std "
        "overflows); rescale them first"
      )
    return fitted

  def __call__(self, x: np.ndarray) -> np.ndarray:
    return ((x - self.mean) / self.std).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """Which augmentations to apply to the meta-objective's labelled examples and their
  ranges. Each parameter is drawn uniformly and regressed (divided by its range), as in
  Metz et al., ICLR 2019.

  Attributes:
    kinds: a subset of `AUGMENTATIONS` ("shift", "rotation", "noise").
    max_shift: pixels, each axis.
    max_rotation: degrees.
    max_noise: std of Gaussian noise, in standardised units.

  Raises:
    ValueError: an unknown kind or a negative range.
  """

  kinds: tuple = ()
  max_shift: float = 2.0  # pixels, each axis
  max_rotation: float = 15.0  # degrees
  max_noise: float = 0.3  # std of Gaussian noise, in standardised units

  def __post_init__(self):
    unknown = set(self.kinds) - set(AUGMENTATIONS)
    if unknown:
      raise ValueError(f"unknown augmentations {sorted(unknown)}; choose from {AUGMENTATIONS}")
    if min(self.max_shift, self.max_rotation, self.max_noise) < 0:
      raise ValueError("augmentation ranges must be >= 0")

  @property
  def num_targets(self) -> int:
    """Regression targets per example: 2 for shift (dx, dy), 1 each for rotation, noise."""
    return 2 * ("shift" in self.kinds) + ("rotation" in self.kinds) + ("noise" in self.kinds)

  @property
  def spatial(self) -> bool:
    """Whether examples must be reshaped to images (shift or rotation is on)."""
    return "shift" in self.kinds or "rotation" in self.kinds


def transform_image(image: jax.Array, dx, dy, angle_deg) -> jax.Array:
  """Rotate [H, W] by `angle_deg` counter-clockwise about its centre (scipy's convention),
  then shift it by (dx, dy) pixels (content moves right / down); bilinear, edges extended
  (backgrounds stay background).

  Args:
    image: [H, W].
    dx: horizontal shift, pixels (scalar).
    dy: vertical shift, pixels (scalar).
    angle_deg: rotation, degrees (scalar).

  Returns:
    [H, W].
  """
  h, w = image.shape
  centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0])
  rows, cols = jnp.meshgrid(
    jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij"
  )
  a = jnp.deg2rad(angle_deg)
  r, c = rows - centre[0] - dy, cols - centre[1] - dx
  src_r = jnp.cos(a) * r + jnp.sin(a) * c + centre[0]
  src_c = -jnp.sin(a) * r + jnp.cos(a) * c + centre[1]
  return jax.scipy.ndimage.map_coordinates(image, [src_r, src_c], order=1, mode="nearest")


def augment(key: jax.Array, x: jax.Array, image_shape: tuple, cfg: AugmentConfig):
  """Augment flat examples [n, D]; returns (augmented [n, D], targets [n, num_targets])
  with every target in [-1, 1] (noise in [0, 1]).

  Targets are the drawn parameters divided by their ranges, in the order shift (dx, dy),
  rotation, noise. The paper's augmentation targets (Metz et al., ICLR 2019).

  Args:
    key: PRNG key.
    x: [n, D] flat examples, D = prod(image_shape) when shift or rotation is on.
    image_shape: (H, W) of one example.
    cfg: which augmentations and their ranges; at least one kind.

  Returns:
    (x_aug [n, D], targets [n, cfg.num_targets]).

  Raises:
    AssertionError: (chex) x is not of rank 2, or D does not match image_shape.
  """
  chex.assert_rank(x, 2)
  n = x.shape[0]
  k_shift, k_rot, k_sigma, k_noise = jax.random.split(key, 4)
  shift = jax.random.uniform(k_shift, (n, 2), minval=-1.0, maxval=1.0)
  rot = jax.random.uniform(k_rot, (n,), minval=-1.0, maxval=1.0)
  sigma = jax.random.uniform(k_sigma, (n,))
  use_shift, use_rot = "shift" in cfg.kinds, "rotation" in cfg.kinds
  targets = []
  if cfg.spatial:
    chex.assert_equal(int(np.prod(image_shape)), x.shape[1])
    s = shift * cfg.max_shift if use_shift else jnp.zeros_like(shift)
    angle = rot * cfg.max_rotation if use_rot else jnp.zeros_like(rot)
    images = jax.vmap(transform_image)(
      x.reshape((n,) + tuple(image_shape)), s[:, 0], s[:, 1], angle
    )
    x = images.reshape(n, -1)
    targets += [shift] * use_shift + [rot[:, None]] * use_rot
  if "noise" in cfg.kinds:
    x = x + (sigma * cfg.max_noise)[:, None] * jax.random.normal(k_noise, x.shape)
    targets.append(sigma[:, None])
  return x, jnp.concatenate(targets, axis=1)
