"""Small, replaceable loader for the real data sets the core needs (the full data layer is
its own module later). Returns flat float32 arrays; nothing here touches the network."""
from __future__ import annotations

import dataclasses
import gzip
import os
import pathlib
import warnings

import numpy as np

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
INSTALL_HINT = ("install it with `sudo apt-get install dataset-fashion-mnist` (or `make data`), "
                "or put the four *-ubyte.gz files in $METAUNSUP_DATA/fashion-mnist")


class DataNotFoundError(FileNotFoundError):
  pass


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  train_x: np.ndarray   # [N, D] float32, standardised
  train_y: np.ndarray   # [N] int32
  test_x: np.ndarray
  test_y: np.ndarray
  num_classes: int

  @property
  def input_dim(self) -> int:
    return self.train_x.shape[1]


def _read_idx(path: pathlib.Path, header: int) -> np.ndarray:
  try:
    with gzip.open(path, "rb") as f:
      raw = f.read()
  except (OSError, EOFError) as e:
    raise ValueError(f"{path} is not a readable gzip idx file ({e}); reinstall the data") from e
  return np.frombuffer(raw, np.uint8, offset=header)


def _fashion_mnist_dir() -> pathlib.Path:
  candidates = []
  if os.environ.get("METAUNSUP_DATA"):
    candidates.append(pathlib.Path(os.environ["METAUNSUP_DATA"]) / "fashion-mnist")
  candidates += [pathlib.Path(d) for d in FASHION_MNIST_DIRS]
  for d in candidates:
    if (d / "train-images-idx3-ubyte.gz").exists():
      return d
  raise DataNotFoundError(f"Fashion-MNIST not found in {[str(c) for c in candidates]}; "
                          + INSTALL_HINT)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  """Area resize of square images [N, S, S] to [N, size, size]."""
  n, s, _ = images.shape
  if size == s:
    return images
  if s % size == 0:
    f = s // size
    return images.reshape(n, size, f, size, f).mean(axis=(2, 4))
  from PIL import Image
  return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                   for im in images.astype(np.float32)])


def _standardize(train: np.ndarray, test: np.ndarray):
  mean, std = train.mean(), train.std()
  return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def load_fashion_mnist(image_size: int = 14) -> Dataset:
  d = _fashion_mnist_dir()
  split = {}
  for name, prefix in (("train", "train"), ("test", "t10k")):
    images = _read_idx(d / f"{prefix}-images-idx3-ubyte.gz", 16)
    labels = _read_idx(d / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int32)
    if images.size != labels.size * 784:
      raise ValueError(f"{d}: {prefix} images and labels disagree in count; reinstall the data")
    images = _resize(images.reshape(-1, 28, 28).astype(np.float32) / 255.0, image_size)
    split[name] = (images.reshape(len(labels), -1), labels)
  train_x, test_x = _standardize(split["train"][0], split["test"][0])
  return Dataset("fashion_mnist", train_x, split["train"][1], test_x, split["test"][1], 10)


def load_digits(image_size: int = 8) -> Dataset:
  """scikit-learn's 1797 8x8 digits, a fixed 1200 / 597 split."""
  from sklearn.datasets import load_digits as sk_digits
  bunch = sk_digits()
  images = _resize(bunch.images.astype(np.float32) / 16.0, image_size)
  x, y = images.reshape(len(images), -1), bunch.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  tr, te = order[:1200], order[1200:]
  train_x, test_x = _standardize(x[tr], x[te])
  return Dataset("digits", train_x, y[tr], test_x, y[te], 10)


LOADERS = {"fashion_mnist": load_fashion_mnist, "digits": load_digits}


def load(name: str, image_size: int, fallback: str | None = "digits") -> Dataset:
  """Load a data set by name; when Fashion-MNIST is missing and `fallback` is set, warn and
  use the fallback so a fresh machine without root still runs."""
  if name not in LOADERS:
    raise ValueError(f"unknown data set {name!r}; available: {sorted(LOADERS)}")
  if image_size not in (8, 14, 16, 28):
    raise ValueError(f"data.image_size must be one of 8, 14, 16, 28, got {image_size}")
  try:
    ds = LOADERS[name](image_size)
  except DataNotFoundError as e:
    if not fallback or fallback == name:
      raise
    warnings.warn(f"{e}. Falling back to {fallback!r}.")
    ds = LOADERS[fallback](image_size)
  check_finite(ds)
  return ds


def check_finite(ds: Dataset) -> None:
  for split in ("train_x", "test_x"):
    if not np.all(np.isfinite(getattr(ds, split))):
      raise ValueError(f"{ds.name}.{split} contains NaN or inf; clean the data first")
