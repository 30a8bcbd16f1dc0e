"""Few-shot evaluation of a rule against random initialisation on held-out data: the quick
check meta-training runs at its end (`train.py`, summary.json), one readout per seed, with
the labelled examples of `make evaluate` (`readout.make_readout`: support from the train
split, a class-balanced query from the test split)."""

from __future__ import annotations

import functools
import math
import types

import numpy as np

from metaunsup import checks, heads, trained_model
from metaunsup.conv import train as conv_train
from metaunsup.rule_files import Rule
from metaunsup.data import Dataset
from metaunsup.configs import eval_full
from metaunsup.evaluation import readout as readout_lib

# How `fewshot_eval` draws its labelled examples, by `support_split`; summary.json records
# the one it used ("eval_protocol").
PROTOCOLS = {
  "train": "train-split support (shots per class), class-balanced test query of "
  "query_size (make evaluate's readout)",
  "test": "support and query both from the test split (summaries before issue 27)",
}


def support_query_split(
  labels: np.ndarray, shots: int, query_size: int, seed: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
  """Class-balanced support (shots per class) and a disjoint random query set.

  Args:
    labels: [N] integer labels in 0..num_classes-1.
    shots: labelled examples per class in the support set, >= 1.
    query_size: examples in the query set, in [0, N - num_classes * shots] (the labels
      left after the support set).
    seed: seeds both choices, in [0, 2**32 - 1].
    num_classes: the number of classes, >= 1.

  Returns:
    (support [num_classes * shots], query [query_size]) indices into labels, class-major
    support, disjoint.

  Raises:
    ValueError: (one line) for non-integer labels, labels outside 0..num_classes-1, bad
      counts or seed, a class with fewer than `shots` examples (naming it), or a
      query_size above the labels left after the support set.
  """
  labels = np.asarray(labels).reshape(-1)
  if labels.dtype.kind not in "iu":
    raise ValueError(f"labels must be integers 0..num_classes-1, got dtype {labels.dtype}")
  for name, value, low in (
    ("shots", shots, 1),
    ("query_size", query_size, 0),
    ("num_classes", num_classes, 1),
  ):
    checks.integer(value, name, low)
  checks.seed(seed)
  counts = np.bincount(
    labels[(labels >= 0) & (labels < num_classes)].astype(np.int64), minlength=num_classes
  )
  outside = np.unique(labels[(labels < 0) | (labels >= num_classes)])
  if outside.size:
    raise ValueError(
      f"labels {outside[:10].tolist()} are outside 0..{num_classes - 1} "
      f"(num_classes={num_classes}); labels must be 0..num_classes-1"
    )
  short = np.flatnonzero(counts < shots)
  if short.size:
    c = int(short[0])
    raise ValueError(
      f"class {c} has {counts[c]} examples, fewer than shots={shots}"
      + (f" ({short.size} classes are short)" if short.size > 1 else "")
      + "; lower shots or use more labelled data"
    )
  left = len(labels) - num_classes * shots
  if query_size > left:
    raise ValueError(
      f"query_size={query_size} is more than the {left} labels left after the "
      f"support set ({len(labels)} labels, {num_classes} classes x {shots} "
      f"shots); pass query_size <= {left}"
    )
  rng = np.random.default_rng(seed)
  support = np.concatenate(
    [rng.choice(np.flatnonzero(labels == c), shots, replace=False) for c in range(num_classes)]
  )
  rest = np.setdiff1d(np.arange(len(labels)), support)
  return support, rng.choice(rest, query_size, replace=False)


def fewshot_eval(
  rule_: Rule,
  ds: Dataset,
  *,
  widths,
  activation: str,
  steps: int,
  seeds,
  batch_size: int = 128,
  shots: int = 10,
  query_size: int = 1000,
  heads_: tuple = ("ridge",),
  support_split: str = "train",
  layers: tuple = (),
) -> dict:
  """The rule against random init: train a network on ds.train_x without labels (`apply_rule`
  with the seed), read it out with `shots` labels per class. With support_split="train"
  (the default) the labelled examples are `make evaluate`'s: `readout.make_readout`'s
  support from the train split and class-balanced query from the test split, scored by
  `Readout.score_network` (batch norm with the statistics of `reference_batch` train
  examples, as `make evaluate`'s default). support_split="test" is the protocol of
  summaries written before issue 27: support and query both from the test split
  (`support_query_split`), for reproducing their numbers.

  Args:
    rule_: the learned rule.
    ds: the data set (train_x [N, D] unlabeled; test_x [M, D], test_y [M]), standardised
      as `data.load` does (apply_rule does not standardise again).
    widths: the network's layer widths, positive integers, the last one the representation.
    activation: the network's activation name.
    steps: inner steps of the rule (random init: 0).
    seeds: one network init, support and query per seed, each in [0, 2**32 - 1].
    batch_size: unlabeled examples per inner step.
    shots: labelled examples per class.
    query_size: test examples scored per seed (with "train": at most, the same number of
      every class).
    heads_: few-shot heads ('ridge', 'logistic').
    support_split: "train" or "test" (`PROTOCOLS`).
    layers: a conv network (`conv.layers.FORMS`, e.g. ("conv5x5:16", "pool2",
      "dense:32")) trained on ds's square images instead of the MLP of `widths`
      (`conv.apply_rule`; its features' batch norm uses up to
      `conv.train.REFERENCE_EXAMPLES` train images); support_split "train" only.

  Returns:
    {"rule": {head: [accuracy per seed]}, "random_init": {head: [...]}}; NaN for a seed
    whose features are not finite (with "train", as `make evaluate`).

  Raises:
    ValueError: (one line, before any network is trained) for bad arguments (widths, seeds,
      counts), or a class with fewer than `shots` examples in the support's split.
  """
  if support_split not in PROTOCOLS:
    raise ValueError(f"support_split must be one of {tuple(PROTOCOLS)}, got {support_split!r}")
  widths = checks.widths(widths)
  seeds = [checks.seed(s, f"seeds[{i}]") for i, s in enumerate(seeds)]
  if layers:
    return _conv_fewshot(
      rule_, ds, layers, activation, steps, seeds, batch_size, shots, query_size, heads_
    )
  # ds is standardised already (data.load): standardising again would change its floats.
  train = functools.partial(
    trained_model.apply_rule,
    rule_,
    ds.train_x,
    widths=widths,
    activation=activation,
    batch_size=batch_size,
    standardize=False,
  )
  out: dict[str, dict[str, list[float]]] = {
    "rule": {h: [] for h in heads_},
    "random_init": {h: [] for h in heads_},
  }
  if support_split == "train":
    for name, value, low in (("shots", shots, 1), ("query_size", query_size, 1)):
      checks.integer(value, name, low)
    labels = types.SimpleNamespace(
      shots=(shots,),
      heads=tuple(heads_),
      query_size=query_size,
      reference_batch=eval_full.get_config().reference_batch,
    )
    for seed in seeds:
      readout = readout_lib.make_readout(ds, labels, seed)
      for method, n in (("rule", steps), ("random_init", 0)):
        scores = readout.score_network(train(steps=n, seed=seed).params, activation)
        for h in heads_:
          out[method][h].append(scores[(shots, h)])
    return out
  for seed in seeds:
    s_idx, q_idx = support_query_split(ds.test_y, shots, query_size, seed, ds.num_classes)
    for method, n in (("rule", steps), ("random_init", 0)):
      model = train(steps=n, seed=seed)
      u_s, u_q = model.features(ds.test_x[s_idx]), model.features(ds.test_x[q_idx])
      for h in heads_:
        out[method][h].append(
          heads.fewshot_accuracy(
            u_s, ds.test_y[s_idx], u_q, ds.test_y[q_idx], head=h, num_classes=ds.num_classes
          )
        )
  return out


def _conv_fewshot(
  rule_: Rule,
  ds: Dataset,
  layers: tuple,
  activation: str,
  steps: int,
  seeds: list[int],
  batch_size: int,
  shots: int,
  query_size: int,
  heads_: tuple,
) -> dict:
  """`fewshot_eval` with a conv network: the same readout (`readout.make_readout`), the
  features of `conv.ConvModel` on ds's images."""
  side = math.isqrt(ds.train_x.shape[1])
  if side * side != ds.train_x.shape[1]:
    raise ValueError(
      f"a conv network needs square images; {ds.name} has inputs of {ds.train_x.shape[1]} values"
    )
  images = ds.train_x.reshape(-1, side, side, 1)
  test_images = ds.test_x.reshape(-1, side, side, 1)
  labels = types.SimpleNamespace(
    shots=(shots,), heads=tuple(heads_), query_size=query_size, reference_batch=1
  )
  out: dict[str, dict[str, list[float]]] = {
    "rule": {h: [] for h in heads_},
    "random_init": {h: [] for h in heads_},
  }
  for seed in seeds:
    readout = readout_lib.make_readout(ds, labels, seed)
    for method, n in (("rule", steps), ("random_init", 0)):
      model = conv_train.apply_rule(
        rule_,
        images,
        layers=tuple(layers),
        steps=n,
        batch_size=batch_size,
        activation=activation,
        seed=seed,
        standardize=False,
      )
      u_s = model.features(images[readout.support.reshape(-1)])
      u_q = model.features(test_images[readout.query])
      finite = np.all(np.isfinite(u_s)) and np.all(np.isfinite(u_q))
      scores = readout.score(u_s, u_q) if finite else {}
      for h in heads_:
        out[method][h].append(scores.get((shots, h), float("nan")))
  return out
