"""Real data sets, offline, each a TFDS data set read as random-access numpy.

    from metaunsup import sources
    src = sources.get("fashion_mnist", "train")   # prepares on first use (no network)
    x = src.read(np.array([3, 1, 4]))              # float32 [3, 28, 28] in [0, 1]
    x, y = src.arrays()                            # the whole split

The six project sources (`NAMES`) are `tfds.core.GeneratorBasedBuilder`s defined in
`sources.builders`, prepared (array_record) from raw files under `<data_dir>/raw` (fetched by
`make data` = `python -m metaunsup.sources.setup`) into `<data_dir>/tfds`. `<data_dir>` is
`$METAUNSUP_DATA`, else `~/.cache/metaunsup`. Any other name is looked up as an already
prepared TFDS data set in `<data_dir>/tfds` (`tfds.data_source(..., download=False)`);
nothing is ever downloaded at run time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import io
import os
import pathlib
import sys
from typing import Any

import numpy as np

from metaunsup import submodules
from metaunsup.sources._common import (
  SETUP,
  CorruptDataError,
  DataNotFoundError,
  corrupt,
  data_dir,
  raw_dir,
  tfds_dir,
)

__all__ = [
  "NAMES",
  "Source",
  "DataNotFoundError",
  "CorruptDataError",
  "data_dir",
  "raw_dir",
  "tfds_dir",
  "get",
  "builder",
  "prepare",
  "is_prepared",
]

NAMES = ("fashion_mnist", "mnist", "digits", "mnist1d", "alphabet", "reuters")
SPLITS = ("train", "test")
_READ_CHUNK = 8192


@dataclasses.dataclass(frozen=True, eq=False)
class Source:
  """One split of one data set, random access by index.

  Attributes:
    name: the data set's name.
    split: "train" or "test" (or a TFDS split name).
    kind: "image" (example_shape (H, W) or (H, W, C)) or "vector" ((D,)).
    example_shape: shape of one example.
    num_classes: K.
    labels: int32 [N], every example's label.
    metadata: the TFDS builder's metadata (e.g. pixel_max).
  """

  name: str
  split: str
  kind: str  # "image" (example_shape (H, W) or (H, W, C)) or "vector" ((D,))
  example_shape: tuple
  num_classes: int
  labels: np.ndarray = dataclasses.field(repr=False)  # int32 [N]
  metadata: dict = dataclasses.field(default_factory=dict, repr=False)
  _data: Any = dataclasses.field(default=None, repr=False)  # tfds random-access data source
  _key: str = dataclasses.field(default="image", repr=False)
  _scale: float = dataclasses.field(default=1.0, repr=False)
  _files: str = dataclasses.field(default="", repr=False)  # the split's shards, for errors
  _fix: str = dataclasses.field(default="", repr=False)

  def __len__(self) -> int:
    return len(self.labels)

  def read(self, indices) -> np.ndarray:
    """float32 `[n, *example_shape]`: images scaled to [0, 1], vectors as stored.

    Args:
      indices: int array-like [n]; negative indices count from the end.

    Returns:
      float32 `[n, *example_shape]`, in the order of `indices`.

    Raises:
      IndexError: an index outside -N..N-1.
      CorruptDataError: a shard cannot be read (one line, naming the files and the fix).
    """
    idx = np.asarray(indices, np.int64).reshape(-1)
    if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
      raise IndexError(f"{self.name}/{self.split}: index out of range for {len(self)} examples")
    idx = idx % max(len(self), 1)
    out = np.empty((idx.size, *self.example_shape), np.float32)
    for s in range(0, idx.size, _READ_CHUNK):
      part = idx[s : s + _READ_CHUNK].tolist()
      try:
        recs = self._data.__getitems__(part)
      except Exception as e:  # noqa: BLE001 - the reader's errors do not name the file
        raise corrupt(self._files, e, self._fix) from None
      out[s : s + len(part)] = np.stack([r[self._key] for r in recs]).reshape(
        (len(part), *self.example_shape)
      )
    if self._scale != 1.0:
      out *= np.float32(self._scale)
    return out

  def arrays(self) -> tuple[np.ndarray, np.ndarray]:
    """The whole split: (x float32 `[N, *example_shape]`, y int32 [N]).

    Raises:
      CorruptDataError: as `read`.
    """
    return self.read(np.arange(len(self))), self.labels.copy()


# --------------------------------------------------------------------------- project builders
@functools.lru_cache(maxsize=8)
def _alphabet_config(root: str, spec):
  del root  # part of the cache key: fonts are resolved from <data_dir>/raw
  from metaunsup.sources import builders

  return builders.AlphabetConfig.from_spec(spec)


def builder(name: str, alphabet_spec=None):
  """The (possibly unprepared) TFDS builder of project source `name` in `<data_dir>/tfds`.

  Args:
    name: one of `NAMES`.
    alphabet_spec: for "alphabet", the rendering (`alphabet.AlphabetSpec`, default one).

  Returns:
    The `tfds.core.GeneratorBasedBuilder` (array_record files).

  Raises:
    KeyError: name is not a project source.
  """
  from metaunsup.sources import alphabet, builders

  cls = builders.BUILDERS[name]
  kw = {}
  if name == "alphabet":
    kw["config"] = _alphabet_config(str(data_dir()), alphabet_spec or alphabet.AlphabetSpec())
  return cls(data_dir=str(tfds_dir()), file_format="array_record", **kw)


def is_prepared(b) -> bool:
  """Whether a builder's data is prepared.

  Args:
    b: a TFDS builder of this package.

  Returns:
    True when its `dataset_info.json` exists in its data_dir.
  """
  return (pathlib.Path(b.data_dir) / "dataset_info.json").is_file()


def _unwrap(err: BaseException | None) -> BaseException | None:
  seen = set()
  while err is not None and id(err) not in seen:
    if isinstance(err, (DataNotFoundError, CorruptDataError)):
      return err
    seen.add(id(err))
    err = err.__cause__ or err.__context__
  return None


def _folder(name: str) -> pathlib.Path:
  from metaunsup.sources import builders

  return tfds_dir() / builders.BUILDERS[name].name


def _make_data_fix(folder) -> str:
  return f"delete {folder} and rerun {SETUP}"


def _open_builder(name: str, alphabet_spec=None):
  """builder(), naming a damaged dataset_info.json (read when the builder is made)."""
  try:
    return builder(name, alphabet_spec)
  except (DataNotFoundError, CorruptDataError):
    raise
  except Exception as e:  # noqa: BLE001 - TFDS's parse errors do not name the file
    infos = sorted(_folder(name).glob("*/dataset_info.json"))
    if not infos:
      raise
    raise corrupt(infos[0], e, _make_data_fix(_folder(name))) from None


@contextlib.contextmanager
def _preparing_lock(name: str):
  """One process at a time prepares a source: another one waits, then finds it prepared."""
  tfds_dir().mkdir(parents=True, exist_ok=True)
  with open(tfds_dir() / f".{name}.lock", "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def prepare(name: str, alphabet_spec=None):
  """Prepares project source `name` if needed (local files only); returns its builder.
  Safe to call from several processes at once (a lock file in <data_dir>/tfds).

  Args:
    name: one of `NAMES`.
    alphabet_spec: for "alphabet", the rendering (`alphabet.AlphabetSpec`).

  Returns:
    The prepared TFDS builder.

  Raises:
    DataNotFoundError: the raw files are missing (run `make data`).
    CorruptDataError: a raw file or `dataset_info.json` is damaged (one line, the fix).
  """
  b = _open_builder(name, alphabet_spec)
  if is_prepared(b):
    return b
  with _preparing_lock(name):
    return _prepare_locked(name, alphabet_spec)


def _prepare_locked(name: str, alphabet_spec=None):
  import tensorflow_datasets as tfds
  from metaunsup.sources import builders

  b = _open_builder(name, alphabet_spec)
  if is_prepared(b):
    return b
  builders.BUILDERS[name].check_raw()
  print(f"metaunsup.sources: preparing {name} into {b.data_dir} (once)", file=sys.stderr)
  try:
    tfds.display_progress_bar(False)
    with contextlib.redirect_stdout(io.StringIO()):  # TFDS prints its own progress lines
      b.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
          compute_stats=tfds.download.ComputeStatsMode.SKIP, try_download_gcs=False
        )
      )
  except Exception as e:  # noqa: BLE001 - re-raise our one-line errors unwrapped
    inner = _unwrap(e)
    if inner is not None:
      raise inner from None
    raise
  return _open_builder(name, alphabet_spec)


def _cache_labels(b, split: str, fix: str) -> np.ndarray:
  """All labels of a split: saved while preparing (project builders), else read once and
  kept beside the data when the folder is writable."""
  from metaunsup.sources.builders import labels_file

  path = pathlib.Path(b.data_dir) / labels_file(split)
  if path.is_file():
    try:
      return np.load(path)
    except Exception as e:  # noqa: BLE001
      raise corrupt(path, e, fix) from None
  ds = b.as_data_source(split=split)
  labels = np.empty(len(ds), np.int32)
  for s in range(0, len(ds), _READ_CHUNK):
    part = list(range(s, min(s + _READ_CHUNK, len(ds))))
    labels[s : s + len(part)] = [r["label"] for r in ds.__getitems__(part)]
  tmp = path.with_name(f".{path.name}.{os.getpid()}")
  try:  # written whole, then renamed: a concurrent reader never sees half of it
    with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a path
      np.save(f, labels)
    os.replace(tmp, path)
  except OSError:
    tmp.unlink(missing_ok=True)  # read-only data dir: recompute next time
  return labels


def _source_from_builder(name: str, b, split: str, fix: str) -> Source:
  """Raises CorruptDataError (one line, naming the file and `fix`) for a damaged file."""
  import tensorflow_datasets as tfds

  if split not in b.info.splits:
    raise ValueError(f"{name}: no split {split!r}; available: {sorted(b.info.splits)}")
  feats = b.info.features
  if "image" in feats:
    key, kind = "image", "image"
  else:
    key = next(k for k, f in feats.items() if isinstance(f, tfds.features.Tensor) and k != "label")
    kind = "image" if len(feats[key].shape) >= 2 else "vector"
  shape = tuple(int(s) for s in feats[key].shape)
  if kind == "image" and len(shape) == 3 and shape[-1] == 1:
    shape = shape[:2]
  if None in shape or -1 in shape:
    raise ValueError(f"{name}: variable-shaped feature {key!r} {shape} is not supported")
  metadata = dict(b.info.metadata or {})
  scale = 1.0
  if np.dtype(feats[key].np_dtype) == np.uint8:  # images: [0, pixel_max] -> [0, 1]
    scale = 1.0 / float(metadata.get("pixel_max", 255))
  if "label" not in feats or not isinstance(feats["label"], tfds.features.ClassLabel):
    raise ValueError(f"{name}: has no ClassLabel feature 'label'; cannot use it as a source")
  num_classes = int(feats["label"].num_classes)
  shards = [pathlib.Path(str(f)) for f in b.info.splits[split].filepaths]
  files = ", ".join(map(str, shards))
  try:
    missing = [f.name for f in shards if not f.is_file()]
    if missing:
      raise FileNotFoundError(f"missing {', '.join(missing)}")
    data_source = b.as_data_source(split=split)
  except Exception as e:  # noqa: BLE001 - the reader's errors do not name the file
    raise corrupt(files, e, fix) from None
  return Source(
    name=name,
    split=split,
    kind=kind,
    example_shape=shape,
    num_classes=num_classes,
    labels=_cache_labels(b, split, fix),
    metadata=metadata,
    _data=data_source,
    _key=key,
    _scale=scale,
    _files=files,
    _fix=fix,
  )


# --------------------------------------------------------------------------- any TFDS data set
def _tfds_passthrough(name: str, split: str) -> Source:
  import tensorflow_datasets as tfds

  base = name.split("/")[0].split(":")[0]
  hint = (
    f"prepare it with TFDS (and TensorFlow) on a machine with internet: "
    f"tfds.builder({base!r}).download_and_prepare(file_format='array_record'), then copy "
    f"its folder <tfds data_dir>/{base} into {tfds_dir()}/"
  )
  if not (tfds_dir() / base).is_dir():
    raise DataNotFoundError(
      f"{name}: not a metaunsup source ({', '.join(NAMES)}) and not "
      f"prepared in {tfds_dir()}; {hint}"
    )
  try:
    b = tfds.builder(name, data_dir=str(tfds_dir()), try_gcs=False)
    if not is_prepared(b):
      raise FileNotFoundError(f"no dataset_info.json in {b.data_dir}")
  except Exception as e:  # noqa: BLE001
    first = " ".join(str(e).split())[:200]
    raise DataNotFoundError(
      f"{name}: cannot open it from {tfds_dir()} ({type(e).__name__}: {first}); {hint}"
    ) from None
  return _source_from_builder(
    name, b, split, f"delete {tfds_dir() / base} and prepare or copy it there again"
  )


def get(name: str, split: str) -> Source:
  """`split` of data set `name`: a project source (prepared from local raw files on first
  use) or an already prepared TFDS data set. Raises DataNotFoundError (one line) when the
  data is not available locally, CorruptDataError (a ValueError) for an unreadable file.

  Args:
    name: one of `NAMES`, or the name of a TFDS data set prepared in `<data_dir>/tfds`.
    split: "train" or "test" for project sources; any split the TFDS data set has.

  Returns:
    The `Source`.

  Raises:
    ValueError: an unknown split, or a TFDS data set without a ClassLabel "label" or with
      variable-shaped examples.
    DataNotFoundError: the data is not available locally (the message says how to get it).
    CorruptDataError: a file cannot be read (the message names it and the fix).
  """
  if name in NAMES:
    if split not in SPLITS:
      raise ValueError(f"{name}: split must be one of {SPLITS}, got {split!r}")
    return _source_from_builder(name, prepare(name), split, _make_data_fix(_folder(name)))
  return _tfds_passthrough(name, split)


__getattr__ = submodules.loader(__name__)
