"""Image data sets as images (metaunsup/conv/images.py): `data.load`'s flat standardised
arrays reshaped back to [N, S, S, 1] are the source's pixels in place (a transposed or
shuffled reshape would move them), and a data set of vectors is refused in one line."""

import numpy as np
import pytest

from metaunsup import preprocess, sources
from metaunsup.conv import images


def test_images_are_the_source_s_pixels_standardised_in_place():
  # digits: the smallest image set, at its own size (no resampling).
  got = images.load("digits", image_size=8)
  assert got.train_x.shape == (1438, 8, 8, 1) and got.test_x.shape == (359, 8, 8, 1)
  raw, labels = sources.get("digits", "train").arrays()
  standardize = preprocess.Standardizer.fit(raw.reshape(len(raw), -1).astype(np.float32))
  # The same float32 operations on the same pixels: equal exactly.
  np.testing.assert_array_equal(got.train_x[..., 0], standardize(raw.astype(np.float32)))
  np.testing.assert_array_equal(got.train_y, labels)
  assert got.num_classes == 10


def test_a_data_set_of_vectors_is_refused_in_one_line():
  with pytest.raises(ValueError, match="'mnist1d' holds vectors, not images") as e:
    images.load("mnist1d")
  assert "\n" not in str(e.value)
