"""k-means with the triangle code and FastICA (metaunsup/baselines/kmeans.py, ica.py): the
reference points without a network."""

import numpy as np
import pytest

from metaunsup.baselines import ica, kmeans


def test_kmeans_finds_well_separated_clusters_and_the_triangle_code_marks_the_nearest():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(4, 10)) * 10
  x = np.concatenate([c + rng.normal(size=(200, 10)) for c in centres]).astype(np.float32)
  km = kmeans.fit_kmeans(x, k=4, seed=0, n_init=3)
  # Each true centre has a centroid within the noise's reach (|noise| ~ sqrt(10) / sqrt(200)).
  dist = np.linalg.norm(centres[:, None] - km.centroids[None], axis=-1)
  assert np.all(dist.min(1) < 0.5)
  code = km.transform(x)
  assert code.shape == (800, 4) and np.all(code >= 0)
  # The largest feature is the nearest centroid's, for every example.
  nearest = np.argmin(np.linalg.norm(x[:, None] - km.centroids[None], axis=-1), axis=1)
  np.testing.assert_array_equal(np.argmax(code, 1), nearest)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fastica_recovers_independent_sources_up_to_order_and_sign(seed):
  # Uniform (sub-Gaussian) sources: with Laplace ones and seed 0 scikit-learn's fixed-point
  # iteration stops after 4 steps at a 45-degree mix of two sources (its tolerance is on
  # the change of w, which is small near that saddle), a property of FastICA, not of ours.
  rng = np.random.default_rng(1)
  sources = rng.uniform(-1, 1, size=(5000, 3))
  mixing = rng.normal(size=(3, 8))
  x = sources @ mixing + 1.0
  recovered = ica.fit_ica(x, k=3, seed=seed).transform(x)
  corr = np.abs(np.corrcoef(sources.T, recovered.T)[:3, 3:])
  # Every source is one recovered component (|correlation| near 1), each used once.
  assert np.all(corr.max(1) > 0.98) and len(set(np.argmax(corr, 1))) == 3


@pytest.mark.parametrize("fit", [kmeans.fit_kmeans, ica.fit_ica])
def test_bad_inputs_are_one_line(fit):
  with pytest.raises(ValueError, match="finite 2-D"):
    fit(np.full((10, 3), np.nan))
  with pytest.raises(ValueError, match="k must be an integer"):
    fit(np.ones((10, 3)), k=0)
  model = fit(np.random.default_rng(0).normal(size=(50, 4)), k=2)
  with pytest.raises(ValueError, match=r"x must be \[examples, 4\]"):
    model.transform(np.ones((3, 5)))
