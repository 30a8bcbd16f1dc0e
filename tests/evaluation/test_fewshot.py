import types

import jax
import numpy as np
import pytest

import metaunsup
from helpers import tiny_rule_config
from metaunsup import data
from metaunsup.rules import learned
from metaunsup.evaluation import fewshot, readout


def test_support_query_split_is_balanced_and_disjoint():
  labels = np.arange(100) % 4
  s, q = fewshot.support_query_split(labels, 3, 20, 0, 4)
  assert np.bincount(labels[s]).tolist() == [3, 3, 3, 3]
  assert len(q) == 20 and not set(s) & set(q)


@pytest.mark.parametrize(
  "labels,shots,num_classes,match",
  [
    # A class of 3 examples with shots=5 (numpy: "Cannot take a larger sample ...").
    (
      np.r_[np.zeros(10), np.ones(3)].astype(int),
      5,
      2,
      "class 1 has 3 examples, fewer than shots=5",
    ),
    # Labels 1..10 with num_classes=10 (numpy: "a cannot be empty").
    (np.arange(50) % 10 + 1, 2, 10, r"labels \[10\] are outside 0\.\.9"),
  ],
)
def test_support_query_split_errors_name_the_class_and_counts(labels, shots, num_classes, match):
  with pytest.raises(ValueError, match=match) as e:
    fewshot.support_query_split(labels, shots, 10, 0, num_classes)
  assert "\n" not in str(e.value)


def _blobs(n_train: int, test_per_class: tuple, seed: int = 0) -> data.Dataset:
  """Plumbing data (Gaussian blobs, 3 classes), never evidence of learning: n_train
  training examples, test_per_class[c] test examples of class c."""
  rng = np.random.default_rng(seed)
  centres = 2.0 * rng.normal(size=(3, 6))
  y_tr = np.arange(n_train) % 3
  y_te = np.repeat(np.arange(3), test_per_class)
  x = lambda y: (rng.normal(size=(len(y), 6)) + centres[y]).astype(np.float32)  # noqa: E731
  return data.Dataset("blobs", x(y_tr), y_tr.astype(np.int32), x(y_te), y_te.astype(np.int32), 3)


@pytest.fixture(scope="module")
def tiny_rule():
  cfg = tiny_rule_config()
  return metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)


def test_fewshot_eval_is_make_evaluates_readout(tiny_rule):
  """The run summary's protocol (issue 27): support from the train split, a class-balanced
  test query, scored by `readout.Readout.score_network`, exactly as `make evaluate` reads a
  network out. The test split here has a class of 2 examples, fewer than shots=4: only a
  test-split support would need more."""
  ds = _blobs(90, (30, 30, 2))
  kw = dict(
    widths=(8, 5),
    activation="tanh",
    steps=3,
    seeds=[0, 1],
    batch_size=16,
    shots=4,
    query_size=30,
    heads_=("ridge", "logistic"),
  )
  got = fewshot.fewshot_eval(tiny_rule, ds, **kw)
  labels = types.SimpleNamespace(
    shots=(4,), heads=("ridge", "logistic"), query_size=30, reference_batch=1024
  )
  for seed in (0, 1):
    ro = readout.make_readout(ds, labels, seed)
    assert np.bincount(ds.test_y[ro.query]).tolist() == [2, 2, 2]  # class-balanced
    for method, steps in (("rule", 3), ("random_init", 0)):
      model = metaunsup.apply_rule(
        tiny_rule,
        ds.train_x,
        widths=(8, 5),
        activation="tanh",
        steps=steps,
        batch_size=16,
        seed=seed,
        standardize=False,
      )
      scores = ro.score_network(model.params, "tanh")
      # The same program on the same inputs: exactly equal.
      for h in ("ridge", "logistic"):
        assert got[method][h][seed] == scores[(4, h)]
  with pytest.raises(ValueError, match="class 2 has 2 examples, fewer than shots=4"):
    fewshot.fewshot_eval(tiny_rule, ds, support_split="test", **kw)
  with pytest.raises(ValueError, match="support_split must be one of"):
    fewshot.fewshot_eval(tiny_rule, ds, support_split="val", **kw)
