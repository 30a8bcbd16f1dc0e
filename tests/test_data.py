import gzip

import numpy as np
import pytest

from metaunsup import data


def test_digits_loads_real_data():
  ds = data.load("digits", 8)
  assert ds.train_x.shape == (1200, 64) and ds.test_x.shape == (597, 64)
  assert set(np.unique(ds.train_y)) == set(range(10))
  assert abs(ds.train_x.mean()) < 1e-4 and abs(ds.train_x.std() - 1) < 1e-3


def test_fashion_mnist_loads_when_installed():
  try:
    ds = data.load_fashion_mnist(14)
  except data.DataNotFoundError:
    pytest.skip("dataset-fashion-mnist not installed (make data installs it)")
  assert ds.train_x.shape == (60000, 196) and ds.test_x.shape == (10000, 196)
  assert np.bincount(ds.train_y).tolist() == [6000] * 10
  assert np.bincount(ds.test_y).tolist() == [1000] * 10


def test_missing_fashion_mnist_is_a_clear_error_or_falls_back(tmp_path, monkeypatch):
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  monkeypatch.setattr(data, "FASHION_MNIST_DIRS", ())
  with pytest.raises(data.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
    data.load("fashion_mnist", 14, fallback=None)
  with pytest.warns(UserWarning, match="Falling back to 'digits'"):
    assert data.load("fashion_mnist", 8, fallback="digits").name == "digits"


def test_corrupt_file_is_a_clear_error(tmp_path, monkeypatch):
  d = tmp_path / "fashion-mnist"
  d.mkdir()
  for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    (d / name).write_bytes(b"garbage")
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  with pytest.raises(ValueError, match="not a readable gzip idx file"):
    data.load_fashion_mnist(14)
  # Readable but truncated: counts disagree.
  for name, n in (("train-images-idx3-ubyte.gz", 16 + 784), ("train-labels-idx1-ubyte.gz", 10)):
    with gzip.open(d / name, "wb") as f:
      f.write(bytes(n))
  with pytest.raises(ValueError, match="disagree in count"):
    data.load_fashion_mnist(14)


def test_bad_names_and_sizes():
  with pytest.raises(ValueError, match="unknown data set"):
    data.load("cifar10", 14)
  with pytest.raises(ValueError, match="image_size"):
    data.load("digits", 13)


def test_nan_data_is_rejected():
  ds = data.load("digits", 8)
  bad = data.Dataset("x", ds.train_x.copy(), ds.train_y, ds.test_x, ds.test_y, 10)
  bad.train_x[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    data.check_finite(bad)
