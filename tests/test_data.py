"""data.load: whole splits, flat and standardised, on top of the real sources."""

import numpy as np
import pytest

from metaunsup import data, preprocess, sources


def test_digits_loads_real_data():
  ds = data.load("digits", 8)
  assert ds.train_x.shape == (1438, 64) and ds.test_x.shape == (359, 64)
  assert set(np.unique(ds.train_y)) == set(range(10))
  assert abs(ds.train_x.mean()) < 1e-4 and abs(ds.train_x.std() - 1) < 1e-3


def test_images_are_resized_then_standardised_with_train_statistics():
  ds = data.load("mnist", 14)
  raw_train, _ = sources.get("mnist", "train").arrays()
  raw_test, _ = sources.get("mnist", "test").arrays()
  small = preprocess.resize(raw_train, 14).reshape(len(raw_train), -1)
  mean, std = small.mean(), small.std()
  # float32 standardised pixels (scale up to ~5) against numpy's formula: a few eps of that.
  np.testing.assert_allclose(ds.train_x, (small - mean) / std, atol=1e-4)
  expect_test = (preprocess.resize(raw_test, 14).reshape(len(raw_test), -1) - mean) / std
  np.testing.assert_allclose(ds.test_x, expect_test, atol=1e-4)
  assert ds.num_classes == 10 and ds.input_dim == 196


def test_vectors_ignore_image_size():
  for size in (8, 28):
    ds = data.load("mnist1d", size)
    assert ds.input_dim == 40


def test_bad_names_and_sizes():
  with pytest.raises(sources.DataNotFoundError) as e:
    data.load("cifar10", 14)
  assert "\n" not in str(e.value)
  with pytest.raises(ValueError, match="image_size"):
    data.load("digits", 13)


def test_missing_data_is_a_one_line_error(tmp_path, monkeypatch):
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  with pytest.raises(data.DataNotFoundError, match="make data") as e:
    data.load("mnist", 14)
  assert "\n" not in str(e.value)


def test_nan_data_is_rejected():
  ds = data.load("digits", 8)
  bad = data.Dataset("x", ds.train_x.copy(), ds.train_y, ds.test_x, ds.test_y, 10)
  bad.train_x[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    data.check_finite(bad)
