import jax
import numpy as np
import pytest
from scipy import ndimage

from metaunsup import preprocess


def test_resize_matches_block_means_and_preserves_mass():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(3, 28, 28)).astype(np.float32)
  # Pixels in [0, 1], a matrix product against block means: a few float32 eps of scale 1.
  np.testing.assert_allclose(
    preprocess.resize(images, 14), images.reshape(3, 14, 2, 14, 2).mean(axis=(2, 4)), atol=1e-6
  )
  for size in (8, 16):  # non-integer factors: area interpolation keeps the image mean
    out = preprocess.resize(images, size)
    assert out.shape == (3, size, size)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=1e-5)
  np.testing.assert_allclose(preprocess.resize_matrix(28, 8).sum(axis=1), 1.0, atol=1e-6)


def test_grayscale_and_standardizer():
  rgb = np.zeros((2, 4, 4, 3), np.float32)
  rgb[..., 1] = 1.0
  np.testing.assert_allclose(preprocess.to_grayscale(rgb), 0.587, atol=1e-6)
  x = np.random.default_rng(1).normal(3.0, 2.0, size=(1000, 5))
  z = preprocess.Standardizer.fit(x)(x)
  assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4


def _blob(h=16, w=16):
  img = np.zeros((h, w), np.float32)
  img[4:9, 6:12] = 1.0
  img[9:12, 6:8] = 0.5
  return img


@pytest.mark.parametrize("dx,dy", [(1.0, 0.0), (-1.5, 2.25), (0.3, -0.7)])
def test_shift_matches_scipy(dx, dy):
  img = _blob()
  ours = np.asarray(preprocess.transform_image(img, dx, dy, 0.0))
  ref = ndimage.shift(img, (dy, dx), order=1, mode="nearest")
  # float32 bilinear weights against scipy's float64, pixels of scale 1.
  np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("angle", [90.0, -30.0, 12.5])
def test_rotation_matches_scipy(angle):
  img = _blob()
  ours = np.asarray(preprocess.transform_image(img, 0.0, 0.0, angle))
  ref = ndimage.rotate(img, angle, reshape=False, order=1, mode="nearest")
  # float32 sin/cos and bilinear weights against scipy's float64, pixels of scale 1.
  np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_augment_targets_are_the_applied_parameters():
  """Rebuild each augmented example from its regression targets alone."""
  cfg = preprocess.AugmentConfig(
    kinds=("shift", "rotation", "noise"), max_shift=2.0, max_rotation=20.0, max_noise=0.0
  )
  rng = np.random.default_rng(0)
  x = np.stack([_blob() * rng.uniform(0.5, 1.5) for _ in range(6)]).reshape(6, -1)
  out, targets = preprocess.augment(jax.random.PRNGKey(3), x, (16, 16), cfg)
  out, targets = np.asarray(out), np.asarray(targets)
  assert targets.shape == (6, 4) and np.all(np.abs(targets) <= 1)
  assert np.std(targets[:, :3], axis=0).min() > 0.1  # parameters really vary
  for i in range(6):
    dx, dy, a = targets[i, 0] * 2.0, targets[i, 1] * 2.0, targets[i, 2] * 20.0
    rotated = ndimage.rotate(x[i].reshape(16, 16), a, reshape=False, order=1, mode="nearest")
    expect = np.asarray(preprocess.transform_image(x[i].reshape(16, 16), dx, dy, a))
    np.testing.assert_allclose(out[i], expect.reshape(-1), atol=1e-5)
    if abs(dx) < 1e-3 and abs(dy) < 1e-3:
      np.testing.assert_allclose(out[i], rotated.reshape(-1), atol=1e-4)


def test_noise_target_is_the_noise_std():
  cfg = preprocess.AugmentConfig(kinds=("noise",), max_noise=0.5)
  x = np.zeros((8, 4000), np.float32)
  out, targets = preprocess.augment(jax.random.PRNGKey(0), x, (), cfg)
  np.testing.assert_allclose(
    np.asarray(out).std(axis=1), np.asarray(targets[:, 0]) * 0.5, rtol=0.05, atol=1e-3
  )


def test_bad_augmentation_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown augmentations"):
    preprocess.AugmentConfig(kinds=("blur",))
