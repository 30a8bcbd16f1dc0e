"""The labelled side of the protocol: nested class-balanced support sets from the train
split, a class-balanced query from the test split, and the few-shot heads that score a
representation on them (Metz et al., ICLR 2019, Sec. 5)."""

from __future__ import annotations

import dataclasses

import numpy as np

from metaunsup import data, heads, trained_model


def nested_support(labels: np.ndarray, max_shots: int, num_classes: int, seed: int) -> np.ndarray:
  """Class-balanced support sets, nested: the 1-shot set is inside the 5-shot set, etc.

  Args:
    labels: [N] integer labels of the train split.
    max_shots: the largest number of labelled examples per class.
    num_classes: classes 0..num_classes-1 each get a row.
    seed: seeds the choice of examples.

  Returns:
    [num_classes, max_shots] indices into labels; the first s columns are the s-shot
    support set.

  Raises:
    ValueError: if a class has fewer than max_shots examples.
  """
  rng = np.random.default_rng(seed)
  rows = []
  for c in range(num_classes):
    pool = np.flatnonzero(labels == c)
    if len(pool) < max_shots:
      raise ValueError(
        f"class {c} has {len(pool)} training examples, fewer than "
        f"shots={max_shots}; lower config.shots"
      )
    rows.append(rng.choice(pool, max_shots, replace=False))
  return np.stack(rows)


@dataclasses.dataclass
class Readout:
  """The labelled examples of one (data set, seed): nested support sets and a query set.

  Attributes:
    ds: the data set.
    support: [classes, max_shots] indices into the train split (`nested_support`).
    query: [Q] class-balanced indices into the test split.
    ref: [R] unlabeled train examples whose batch-norm statistics the features use.
    shots: the numbers of labelled examples per class to score, each <= max_shots.
    heads: the few-shot heads to score ('ridge', 'logistic'; `metaunsup.heads`).
  """

  ds: data.Dataset
  support: np.ndarray
  query: np.ndarray
  ref: np.ndarray
  shots: tuple
  heads: tuple

  def support_idx(self, shots: int) -> np.ndarray:
    """The s-shot support set, flat.

    Args:
      shots: labelled examples per class, at most max_shots.

    Returns:
      [classes * shots] indices into the train split, class-major.
    """
    return self.support[:, :shots].reshape(-1)

  def score(
    self, u_support_all: np.ndarray, u_query: np.ndarray, only_shots: int | None = None
  ) -> dict:
    """Few-shot accuracy of a representation for every (shots, head).

    Args:
      u_support_all: [classes * max_shots, F] features of the max-shot support set, in the
        order of `support.reshape(-1)`.
      u_query: [Q, F] features of the query set.
      only_shots: score this number of shots alone instead of every entry of `shots`.

    Returns:
      {(shots, head): test accuracy in [0, 1]}.
    """
    out = {}
    per_class = u_support_all.reshape(*self.support.shape, -1)
    for s in self.shots if only_shots is None else (only_shots,):
      u_s = per_class[:, :s].reshape(-1, per_class.shape[-1])
      y_s = self.ds.train_y[self.support_idx(s)]
      for h in self.heads:
        out[(s, h)] = heads.fewshot_accuracy(
          u_s, y_s, u_query, self.ds.test_y[self.query], head=h, num_classes=self.ds.num_classes
        )
    return out

  def score_network(self, params, activation: str, only_shots: int | None = None) -> dict:
    """Few-shot accuracy of a base network's features (batch norm with the statistics of
    the `ref` examples).

    Args:
      params: the network's `base_model.BaseParams`.
      activation: its activation name.
      only_shots: as in `score`.

    Returns:
      {(shots, head): test accuracy}, NaN for every cell if any feature is non-finite (the
      network diverged).
    """
    model = trained_model.TrainedModel.from_reference(params, self.ds.train_x[self.ref], activation)
    u_s = model.features(self.ds.train_x[self.support.reshape(-1)])
    u_q = model.features(self.ds.test_x[self.query])
    if not (np.all(np.isfinite(u_s)) and np.all(np.isfinite(u_q))):
      return {(s, h): float("nan") for s in self.shots for h in self.heads}
    return self.score(u_s, u_q, only_shots)


def make_readout(ds: data.Dataset, config, seed: int) -> Readout:
  """The `Readout` of one data set and seed.

  Args:
    ds: the data set.
    config: the evaluation config (reads query_size, reference_batch, shots, heads).
    seed: seeds the support set (seed) and the query and reference examples (seed + 1).

  Returns:
    A `Readout` whose query has the same number of test examples of every class (at most
    config.query_size in all), so chance is 1 / classes on every data set.

  Raises:
    ValueError: if a class has fewer than max(config.shots) training examples.
  """
  rng = np.random.default_rng(seed + 1)
  # A class-balanced query, so chance is 1/classes on every data set (Reuters is 93% one class).
  by_class = [np.flatnonzero(ds.test_y == c) for c in range(ds.num_classes)]
  per_class = min(config.query_size // ds.num_classes, *(len(i) for i in by_class))
  query = np.concatenate([rng.choice(i, per_class, replace=False) for i in by_class])
  ref = rng.choice(len(ds.train_x), min(config.reference_batch, len(ds.train_x)), replace=False)
  return Readout(
    ds,
    nested_support(ds.train_y, max(config.shots), ds.num_classes, seed),
    query,
    ref,
    tuple(config.shots),
    tuple(config.heads),
  )
