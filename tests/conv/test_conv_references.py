"""The conv references of issue 38 (Coates, Lee & Ng 2011): patch k-means with the triangle
code and patch PCA, their shapes, errors, determinism, pooling, and patch k-means against
raw pixels on MNIST."""

import numpy as np
import pytest

import metaunsup
from metaunsup.conv import images as images_lib
from metaunsup.conv import references


def _images(n=12, side=10, channels=2, seed=0):
  return np.random.default_rng(seed).normal(size=(n, side, side, channels)).astype(np.float32)


@pytest.fixture(scope="module")
def mnist_kmeans():
  """Patch k-means (k = 32, 6x6, 10^4 patches, seed 0) on 2000 unlabeled MNIST training
  images (classes mixed: the split is sorted by class), a 10-shot support set from the rest
  and 500 test queries, all drawn with seed 0."""
  m = images_lib.load("mnist")
  rng = np.random.default_rng(0)
  perm = rng.permutation(len(m.train_x))
  rest = perm[2000:]
  support = np.concatenate([rest[m.train_y[rest] == c][:10] for c in range(10)])
  query = rng.permutation(len(m.test_x))[:500]
  unlabeled = m.train_x[perm[:2000]]
  km = references.fit_patch_kmeans(unlabeled, k=32, patch_size=6, patches=10000, seed=0)
  return (
    km,
    unlabeled,
    (m.train_x[support], m.train_y[support]),
    (m.test_x[query], m.test_y[query]),
  )


def test_feature_shapes_and_any_image_size():
  x = _images()
  km = references.fit_patch_kmeans(x, k=5, patch_size=3, patches=400)
  pca = references.fit_patch_pca(x, dim=4, patch_size=3, patches=400)
  assert km.features(x).shape == (12, 20) and km.features(x).dtype == np.float32
  assert pca.features(x).shape == (12, 32)
  assert km.features(_images(n=3, side=7)).shape == (3, 20)  # another size: its own map
  assert km.features(x[:0]).shape == (0, 20)
  assert km.zca.shape == (18, 18) and km.kmeans.centroids.shape == (5, 18)
  for model in (km, pca):
    assert (model.features(x) >= 0).all() and (model.features(x, pool="sum") >= 0).all()


def test_patches_are_flattened_row_column_channel():
  x = _images(n=2, side=5, channels=3)
  flat = references._flatten(references._windows(x, 3))
  np.testing.assert_array_equal(flat[1, 2, 0], x[1, 2:5, 0:3, :].reshape(-1))


def test_pooling_matches_a_loop_over_positions():
  x = _images(n=2, side=7, channels=1)
  km = references.fit_patch_kmeans(x, k=4, patch_size=3, patches=200)
  maps = np.zeros((2, 5, 5, 4))
  for i in range(5):
    for j in range(5):
      patch = references.normalize(x[:, i : i + 3, j : j + 3, :].reshape(2, -1))
      maps[:, i, j] = km.kmeans.transform(km.whiten(patch))
  quads = [maps[:, :2, :2], maps[:, :2, 2:], maps[:, 2:, :2], maps[:, 2:, 2:]]
  want_sum = np.concatenate([q.sum((1, 2)) for q in quads], 1)
  want_mean = np.concatenate([q.mean((1, 2)) for q in quads], 1)
  np.testing.assert_allclose(km.features(x, pool="sum"), want_sum, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(km.features(x), want_mean, rtol=1e-4, atol=1e-5)


def test_whitening_and_normalisation():
  x = _images(n=20)
  raw = references.random_patches(x, 3, 2000, seed=1)
  normed = references.normalize(raw).astype(np.float64)
  np.testing.assert_allclose(normed.mean(1), 0.0, atol=1e-5)
  var = raw.var(1)  # normalised: var / (var + eps)
  np.testing.assert_allclose(normed.var(1), var / (var + references.NORM_EPS), rtol=1e-4)
  km = references.fit_patch_kmeans(x, k=3, patch_size=3, patches=2000, seed=1)  # same patches
  eigval, eigvec = np.linalg.eigh(np.cov(normed, rowvar=False, bias=True))
  # ZCA: the covariance's eigenvalues lambda become lambda / (lambda + eps), same directions
  want = (eigvec * (eigval / (eigval + references.ZCA_EPS))) @ eigvec.T
  got = np.cov(km.whiten(normed), rowvar=False, bias=True)
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_determinism_by_seed():
  x = _images(n=20)
  fits = [references.fit_patch_kmeans(x, k=4, patch_size=3, patches=500, seed=s) for s in (0, 0, 1)]
  np.testing.assert_array_equal(fits[0].features(x), fits[1].features(x))
  assert not np.allclose(fits[0].features(x), fits[2].features(x))
  a, b = (references.fit_patch_pca(x, dim=3, patch_size=3, patches=500, seed=0) for _ in "ab")
  np.testing.assert_array_equal(a.features(x), b.features(x))
  np.testing.assert_array_equal(
    references.random_patches(x, 3, 50, seed=7), references.random_patches(x, 3, 50, seed=7)
  )


@pytest.mark.parametrize(
  "call, match",
  [
    (lambda x: references.fit_patch_kmeans(x[0]), "images must be images"),
    (lambda x: references.fit_patch_kmeans(np.where(x > 2, np.nan, x)), "NaN or inf"),
    (lambda x: references.fit_patch_kmeans(x, k=0, patch_size=3), "k must be"),
    (lambda x: references.fit_patch_kmeans(x, k=11, patch_size=3, patches=10), "k must be"),
    (lambda x: references.fit_patch_kmeans(x, patch_size=10), "patch_size must be"),
    (lambda x: references.fit_patch_kmeans(x, patch_size=3, patches=0), "patches must be"),
    (lambda x: references.fit_patch_kmeans(x, patch_size=3, seed=-1), "seed must be"),
    (lambda x: references.fit_patch_kmeans(x, patch_size=3, norm_eps=0.0), "norm_eps must"),
    (lambda x: references.fit_patch_kmeans(x, patch_size=3, zca_eps=np.inf), "zca_eps must"),
    (lambda x: references.fit_patch_kmeans(x[:0], patch_size=3), "images is empty"),
    (lambda x: references.fit_patch_pca(x, dim=19, patch_size=3), "dim must be"),
    (lambda x: references.fit_patch_pca(x, dim=0, patch_size=3), "dim must be"),
  ],
)
def test_one_line_errors_of_fits(call, match):
  with pytest.raises(ValueError, match=match) as err:
    call(_images())
  assert "\n" not in str(err.value)


@pytest.mark.parametrize(
  "x, pool, match",
  [
    (_images(channels=1), "mean", "has 1 channels"),
    (_images(side=3), "mean", "need at least 4x4"),
    (_images()[..., 0], "mean", "add a channel axis"),
    (np.full((2, 10, 10, 2), np.inf), "mean", "NaN or inf"),
    (_images(), "max", "pool must be"),
  ],
)
def test_one_line_errors_of_features(x, pool, match):
  km = references.fit_patch_kmeans(_images(), k=3, patch_size=3, patches=100)
  with pytest.raises(ValueError, match=match) as err:
    km.features(x, pool=pool)
  assert "\n" not in str(err.value)


def test_triangle_code_is_nonnegative_and_about_half_zero(mnist_kmeans):
  km, unlabeled = mnist_kmeans[:2]
  patches = references.normalize(references.random_patches(unlabeled, 6, 5000, seed=1))
  codes = km.kmeans.transform(km.whiten(patches))
  assert (codes >= 0).all()
  assert 0.35 < (codes == 0).mean() < 0.65  # ~0.53 measured (Coates et al.: about half)


def test_patch_kmeans_beats_raw_pixels_on_mnist_10_shot(mnist_kmeans):
  """Seed 0, 10-shot ridge on 500 queries (measured: raw pixels 0.66, patch k-means 0.87
  with mean pooling; with sum pooling ~0.62, below raw pixels: the ridge's fixed lambda
  meets 130 times larger features, near interpolation with 128 features and 100 support
  images; see the module docstring)."""
  km, _, (sx, sy), (qx, qy) = mnist_kmeans

  def accuracy(fs, fq):
    return metaunsup.fewshot_accuracy(fs, sy, fq, qy, head="ridge")

  raw = accuracy(sx.reshape(len(sx), -1), qx.reshape(len(qx), -1))
  mean = accuracy(km.features(sx), km.features(qx))
  summed = accuracy(km.features(sx, pool="sum"), km.features(qx, pool="sum"))
  print(f"10-shot ridge: raw {raw:.3f}, patch k-means mean {mean:.3f}, sum {summed:.3f}")
  assert mean > raw + 0.1, (mean, raw)
  assert mean > summed + 0.1, (mean, summed)
