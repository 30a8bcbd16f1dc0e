"""The task family the rule is meta-trained on. A task = (data set, 10-class subset,
preprocessing, widths, depth, activation, input permutation, batch size, total inner steps).

Shapes must be static under `jit`, so tasks are grouped into *buckets*: every task in a
bucket shares input shape, widths, activation and batch size (one `InnerConfig`) and is
vmapped; different buckets are separate programs inside one meta-step. Within a bucket each
task draws its own data set (any whose preprocessed inputs have the bucket's shape) whenever
it is reset; the permutation and total length live in its `TaskState`.

Data stays on the host as random-access sources; each meta-step every task gets a fresh
class-balanced pool of examples (`TaskData`), gathered by index, so memory does not grow
with the data set and loading is a measured, small part of a step.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from metaunsup import inner, preprocess, sources
from metaunsup.conv import layers as conv_layers

TRAIN_SPLIT = "train"


@dataclasses.dataclass(frozen=True)
class Bucket:
  """Tasks that share one static `InnerConfig` and are vmapped in one program.

  Attributes:
    cfg: the bucket's inner config (input shape, widths, activation, batch size, augmentation).
    input_dim: D, flat input features (H * W for images).
    datasets: names whose preprocessed inputs have this bucket's shape.
    num_tasks: T, tasks in the bucket (the leading [T] axis of its task states and data).
  """

  cfg: inner.InnerConfig
  input_dim: int
  datasets: tuple  # names whose preprocessed inputs have this bucket's shape
  num_tasks: int

  def describe(self) -> dict:
    """The bucket as a JSON-able dict (input shape, widths, activation, batch size, data sets,
    number of tasks), for `summary.json`.
    """
    net = (
      {"layers": [layer.spec for layer in self.cfg.layers]}
      if self.cfg.layers
      else {"widths": list(self.cfg.widths)}
    )
    return {
      "input": list(self.cfg.image_shape) or [self.input_dim],
      **net,
      "activation": list(self.cfg.activations) or self.cfg.activation,
      "batch_size": self.cfg.batch_size,
      "datasets": list(self.datasets),
      "num_tasks": self.num_tasks,
    }


def check_held_out(datasets, held_out, split: str = TRAIN_SPLIT) -> None:
  """Refuse to meta-train on anything declared held out: either the whole data set
  ("mnist") or this split of it ("fashion_mnist:train").

  Args:
    datasets: names meta-training would read (`family.datasets`).
    held_out: names or "name:split" entries (`family.held_out`).
    split: the split meta-training reads.

  Raises:
    ValueError: (one line) a data set or its split is held out.
  """
  for name in datasets:
    if name in held_out or f"{name}:{split}" in held_out:
      raise ValueError(
        f"family.datasets includes {name!r} ({split} split), which "
        "family.held_out declares held out; meta-training on it would leak "
        "the evaluation data. Remove it from one of the two lists"
      )


class Pools:
  """The training splits of the family's data sets, preprocessed on demand per input shape.
  A source small enough (`cache_mb`) is read once into one numpy array; a larger one is
  read by index every step from its random-access TFDS source.

  The last `validation_per_class` examples (by index) of every class of a training split are
  its validation part (`validation`): meta-training's pools (`by_class`, `task_data`) never
  hold them, so their labels are read only by the validation curve (`training.validation`).

  Args:
    names: data set names (`family.datasets`).
    cache_mb: sources up to this many MiB (as float32) are held in memory.
    validation_per_class: examples per class set aside as the validation part (0: none).

  Raises:
    ValueError: a class with no more than `validation_per_class` examples (one line).
    DataNotFoundError, CorruptDataError: as `sources.get`.
  """

  def __init__(self, names, cache_mb: float, validation_per_class: int = 0):
    self.sources = {n: sources.get(n, TRAIN_SPLIT) for n in names}
    self.by_class: dict[str, list[np.ndarray]] = {}
    self.validation: dict[str, list[np.ndarray]] = {}
    self._raw: dict[str, np.ndarray] = {}
    self._standardizers: dict[tuple[str, int], preprocess.Standardizer] = {}
    for name, src in self.sources.items():
      labels = np.asarray(src.labels)
      by_class = [np.flatnonzero(labels == c) for c in range(src.num_classes)]
      short = [
        c
        for c, idx in enumerate(by_class)
        if validation_per_class and len(idx) <= validation_per_class
      ]
      if short:
        raise ValueError(
          f"{name} class {short[0]} has {len(by_class[short[0]])} examples in "
          f"its train split; the validation curve sets {validation_per_class} "
          "per class aside (heads.shots + validation.query_per_class); lower "
          "validation.query_per_class, or set validation.every=0"
        )
      n = validation_per_class
      self.by_class[name] = [idx[: len(idx) - n] for idx in by_class]
      self.validation[name] = [idx[len(idx) - n :] for idx in by_class]
      if len(src) * int(np.prod(src.example_shape)) * 4 <= cache_mb * 2**20:
        self._raw[name] = src.arrays()[0]

  def input_dim(self, name: str, image_size: int) -> int:
    """D of `name` at `image_size` (image_size^2 for images; vectors ignore the size)."""
    src = self.sources[name]
    return image_size * image_size if src.kind == "image" else int(np.prod(src.example_shape))

  def _read(self, name: str, idx: np.ndarray) -> np.ndarray:
    raw = self._raw.get(name)
    return raw[idx] if raw is not None else self.sources[name].read(idx)

  def _preprocess(self, name: str, raw: np.ndarray, image_size: int) -> np.ndarray:
    x = raw
    if self.sources[name].kind == "image":
      x = preprocess.resize(preprocess.to_grayscale(raw), image_size)
    return x.reshape(len(x), -1)

  def standardizer(self, name: str, image_size: int) -> preprocess.Standardizer:
    """Fitted once per (data set, size) on a fixed sample of the training split.

    Args:
      name: a data set of the pools.
      image_size: side length in pixels (ignored for vectors).

    Returns:
      The `preprocess.Standardizer`, fitted on up to 4096 examples drawn with seed 0.
    """
    key = (name, image_size)
    if key not in self._standardizers:
      n = len(self.sources[name])
      idx = np.sort(np.random.default_rng(0).choice(n, min(n, 4096), replace=False))
      self._standardizers[key] = preprocess.Standardizer.fit(
        self._preprocess(name, self._read(name, idx), image_size)
      )
    return self._standardizers[key]

  def examples(self, name: str, idx: np.ndarray, image_size: int) -> np.ndarray:
    """Examples of the training split, preprocessed and standardised as meta-training's.

    Args:
      name: a data set of the pools.
      idx: int [n] indices into its training split (any order, repeats allowed).
      image_size: side length in pixels (ignored for vectors).

    Returns:
      float32 [n, D], in the order of `idx`.
    """
    order = np.argsort(idx)  # sorted reads are kinder to the record file
    x = np.empty((len(idx), self.input_dim(name, image_size)), np.float32)
    x[order] = self.standardizer(name, image_size)(
      self._preprocess(name, self._read(name, idx[order]), image_size)
    )
    return x

  def task_data(
    self, rng: np.random.Generator, name: str, image_size: int, num_classes: int, per_class: int
  ) -> inner.TaskData:
    """A fresh pool: `num_classes` random classes of `name`, `per_class` examples each,
    relabelled 0..num_classes-1 (the readout task of this truncation).

    Args:
      rng: numpy generator (the caller seeds it by seed, step and bucket).
      name: a data set of the pools.
      image_size: side length in pixels (ignored for vectors).
      num_classes: K, classes drawn without replacement.
      per_class: examples per class (drawn with replacement when a class has fewer).

    Returns:
      `inner.TaskData` with x [K * per_class, D] float32 standardised, y [K * per_class]
      int32 and by_class [K, per_class] int32 row indices.
    """
    classes = rng.choice(len(self.by_class[name]), num_classes, replace=False)
    idx = np.concatenate(
      [
        rng.choice(
          self.by_class[name][c], per_class, replace=len(self.by_class[name][c]) < per_class
        )
        for c in classes
      ]
    )
    x = self.examples(name, idx, image_size)
    y = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
    by_class = np.arange(len(idx), dtype=np.int32).reshape(num_classes, per_class)
    return inner.TaskData(x=x, y=y, by_class=by_class)


def sample_buckets(
  config: ml_collections.ConfigDict, pools: Pools, base: inner.InnerConfig
) -> tuple[Bucket, ...]:
  """Draw `family.num_buckets` architectures and input shapes from the config's ranges,
  deterministically from the seed. Bucket i's input shape comes from data set i of a
  shuffled list, so every data set is reachable once there are enough buckets; its activation
  is `family.activations[i % len]`, in the listed order, so the first listed activation is in
  every family and each one is trained on once there are enough buckets (a random draw left
  relu, the evaluation's activation, out of the default family:
  experiments/default_rule/results/run).
  With `family.activation_per_task`, every task draws its activation from all of
  `family.activations` at each reset instead (`inner.InnerConfig.activations`), whatever the
  number of buckets. With `family.conv_networks` (layer descriptions such as "conv5x5:16
  pool2 conv3x3:32 pool2 dense:32"), bucket i trains the conv network
  `conv_networks[i % len]` on its images (`inner.InnerConfig.layers`) instead of an MLP.

  Args:
    config: the meta-training config (reads `seed` and the `family` section).
    pools: the family's data.
    base: the inner config the buckets vary (rule, shots, steps, ...).

  Returns:
    tuple of `family.num_buckets` `Bucket`s.
  """
  fam = config.family
  rng = np.random.default_rng([config.seed, 7])
  names = list(fam.datasets)
  order = rng.permutation(len(names))
  buckets = []
  for i in range(fam.num_buckets):
    first = names[order[i % len(names)]]
    if pools.sources[first].kind == "image":
      size = int(rng.choice(fam.image_sizes))
      fits = [n for n in names if pools.sources[n].kind == "image"]
      image_shape: tuple[int, ...] = (size, size)
      dim = size * size
    else:
      dim = pools.input_dim(first, 0)
      fits = [n for n in names if pools.sources[n].kind != "image" and pools.input_dim(n, 0) == dim]
      image_shape = ()
    depth = int(rng.choice(fam.depths))
    widths = tuple(int(rng.choice(fam.widths)) for _ in range(depth)) + (fam.feature_width,)
    # Shifts and rotations need a pixel grid; vector inputs get only noise.
    kinds = tuple(k for k in fam.augment if image_shape or k == "noise")
    # Per task: every task of every bucket draws from all of them at each reset.
    per_task = tuple(str(a) for a in fam.activations) if fam.activation_per_task else ()
    # A conv family (config_checks: image data sets only) gives bucket i the conv network
    # conv_networks[i % len] instead of the MLP drawn above.
    layers = (
      tuple(fam.conv_networks[i % len(fam.conv_networks)].split()) if fam.conv_networks else ()
    )
    cfg = dataclasses.replace(
      base,
      widths=widths,
      layers=layers,
      activation=str(fam.activations[i % len(fam.activations)]),
      activations=per_task,
      batch_size=int(rng.choice(fam.batch_sizes)),
      image_shape=image_shape,
      augment=preprocess.AugmentConfig(
        kinds=kinds, max_shift=fam.max_shift, max_rotation=fam.max_rotation, max_noise=fam.max_noise
      ),
    )
    buckets.append(
      Bucket(cfg=cfg, input_dim=dim, datasets=tuple(fits), num_tasks=fam.tasks_per_bucket)
    )
  return tuple(buckets)


class TaskFamily:
  """Buckets + pools + which data set each task is on (host state, checkpointed).

  Args:
    config: the meta-training config (`family` section and `seed`; `validation` and
      `heads.shots`: the examples per class set aside for the validation curve).
    base: the inner config every bucket starts from.

  Raises:
    ValueError: a data set is held out (`check_held_out`), has fewer classes than a
      task reads out (`base.num_classes`), or a class too small for the validation part; a
      conv network (`family.conv_networks`, `validation.networks`) with a data set of
      vectors, or one that does not fit the images.
    DataNotFoundError, CorruptDataError: as `sources.get`.
  """

  def __init__(self, config: ml_collections.ConfigDict, base: inner.InnerConfig):
    fam = config.family
    check_held_out(fam.datasets, fam.held_out)
    self.config = config
    # With the validation curve on, its examples leave meta-training's pools.
    held_for_validation = (
      config.heads.shots + config.validation.query_per_class if config.validation.every else 0
    )
    self.pools = Pools(fam.datasets, fam.cache_mb, held_for_validation)
    for name, src in self.pools.sources.items():
      if src.num_classes < base.num_classes:
        raise ValueError(
          f"{name} has {src.num_classes} classes, fewer than the "
          f"{base.num_classes} a meta-training task reads out; drop it from "
          "family.datasets"
        )
    conv = list(fam.conv_networks) + [
      n for n in config.validation.networks if conv_layers.is_conv_network(n)
    ]
    if config.validation.every and config.eval.conv_layers and not config.validation.networks:
      conv.append(config.eval.conv_layers)
    vectors = [n for n, src in self.pools.sources.items() if src.kind != "image"]
    if conv and vectors:
      raise ValueError(
        f"the conv networks {conv} read images, and family.datasets has {vectors}, which "
        "are not images; drop them from family.datasets"
      )
    self.buckets = sample_buckets(config, self.pools, base)
    self.per_class = fam.pool_per_class

  def image_size(self, bucket: Bucket) -> int:
    """The bucket's image side length in pixels, 0 for vector inputs."""
    return bucket.cfg.image_shape[0] if bucket.cfg.image_shape else 0

  def init_tasks(self, key: jax.Array) -> tuple:
    """Every bucket's tasks (`inner.init_tasks`), at random offsets into their lengths.

    Args:
      key: PRNG key.

    Returns:
      One TaskState [T_b] per bucket b.
    """
    return tuple(
      inner.init_tasks(k, b.input_dim, b.cfg, b.num_tasks)
      for k, b in zip(jax.random.split(key, len(self.buckets)), self.buckets)
    )

  def initial_datasets(self) -> tuple[np.ndarray, ...]:
    """Each task's first data set, drawn from the seed.

    Returns:
      One int32 array [T] per bucket, indices into that bucket's `datasets`.
    """
    rng = np.random.default_rng([self.config.seed, 11])
    return tuple(
      rng.integers(len(b.datasets), size=b.num_tasks).astype(np.int32) for b in self.buckets
    )

  def reassign(self, step: int, dataset_ids, done) -> tuple[np.ndarray, ...]:
    """Tasks that were reset draw a new data set (seeded by step, so resuming repeats it).

    Args:
      step: the meta-step.
      dataset_ids: per bucket, int32 [T], each task's data set index.
      done: per bucket, bool [T], the tasks reset this step.

    Returns:
      Per bucket, int32 [T]: new indices where done, the old ones elsewhere.
    """
    out = []
    for i, (b, ids, d) in enumerate(zip(self.buckets, dataset_ids, done)):
      rng = np.random.default_rng([self.config.seed, step, i, 13])
      fresh = rng.integers(len(b.datasets), size=b.num_tasks).astype(np.int32)
      out.append(np.where(np.asarray(d), fresh, np.asarray(ids)).astype(np.int32))
    return tuple(out)

  def step_data(self, step: int, dataset_ids) -> tuple[tuple[inner.TaskData, ...], float]:
    """Every task's pool for this meta-step, stacked per bucket; also the seconds it took.

    Args:
      step: the meta-step (seeds the draw, so a resumed run reads the same pools).
      dataset_ids: per bucket, int32 [T].

    Returns:
      (per bucket an `inner.TaskData` with a leading [T] task axis: x [T, K * per_class, D],
      y [T, K * per_class], by_class [T, K, per_class]; host seconds spent building them).
    """
    t0 = time.perf_counter()
    out = []
    for i, (b, ids) in enumerate(zip(self.buckets, dataset_ids)):
      rng = np.random.default_rng([self.config.seed, step, i, 17])
      pools = [
        self.pools.task_data(
          rng, b.datasets[j], self.image_size(b), b.cfg.num_classes, self.per_class
        )
        for j in ids
      ]
      out.append(
        inner.TaskData(
          *(jnp.asarray(np.stack(field)) for field in zip(*((p.x, p.y, p.by_class) for p in pools)))
        )
      )
    return tuple(out), time.perf_counter() - t0

  def describe(self) -> list[dict]:
    """Every bucket's `Bucket.describe()`, for `summary.json`."""
    return [b.describe() for b in self.buckets]
