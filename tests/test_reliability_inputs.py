"""Wrong arguments to the public API are one line naming the argument and what it must be,
never a TypeError from inside numpy, jax, scikit-learn or ml_collections, nor a hang. Each
case here failed so before (noted per case)."""

import jax
import numpy as np
import pytest

import metaunsup
from helpers import tiny_rule_config
from metaunsup import data, evaluation
from metaunsup.rules import learned


def _one_line(e, *words):
  msg = str(e.value)
  assert "\n" not in msg and all(w in msg for w in words), msg


@pytest.fixture(scope="module")
def tiny_rule():
  cfg = tiny_rule_config()
  return metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)


X = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
Y = np.arange(20) % 4


@pytest.mark.parametrize(
  "kwargs,words",
  [
    (dict(chunk=0), ["chunk", ">= 1"]),  # hung: a while loop that never advanced
    (dict(steps="3"), ["steps", "'3'"]),  # TypeError: '<' between int and str
    (dict(steps=2.5), ["steps", "2.5"]),  # ran 2.5 steps
    (dict(batch_size=8.0), ["batch_size", "8.0"]),
    (dict(seed=1.5), ["seed", "1.5"]),  # TypeError inside jax.random
  ],
)
def test_apply_rule_integer_arguments(tiny_rule, kwargs, words):
  args = {"widths": (5, 3), "steps": 1, "batch_size": 8, **kwargs}
  with pytest.raises(ValueError) as e:
    metaunsup.apply_rule(tiny_rule, X, **args)
  _one_line(e, *words, "integer")


@pytest.mark.parametrize(
  "widths,words",
  [
    ("64", ["the string '64'"]),  # built a 6-4 network
    ((32.7,), ["(32.7,)"]),  # truncated to 32
    (32, ["the number 32", "(32,)"]),  # TypeError from inside inner.py, naming nothing
    ((), ["()"]),
    ((8, 0), ["(8, 0)"]),
  ],
)
def test_apply_rule_widths_are_a_sequence_of_positive_integers(tiny_rule, widths, words):
  with pytest.raises(ValueError) as e:
    metaunsup.apply_rule(tiny_rule, X, widths=widths, steps=1, batch_size=8)
  _one_line(e, "widths must be a sequence of positive integers", *words)


@pytest.mark.parametrize(
  "x,words",
  [
    (np.ones((100, 0)), ["x_unlabeled has no features", "(100, 0)"]),  # ZeroDivisionError
    (X.astype(np.complex64), ["x_unlabeled is complex", "real"]),  # cast, a NumPy warning
    (X.astype(str), ["x_unlabeled must hold real numbers", "<U"]),
  ],
)
def test_apply_rule_inputs_are_real_with_at_least_one_feature(tiny_rule, x, words):
  with pytest.raises(ValueError) as e:
    metaunsup.apply_rule(tiny_rule, x, widths=(4,), steps=1, batch_size=8)
  _one_line(e, *words)


def test_features_check_their_inputs_as_apply_rule_does(tiny_rule):
  model = metaunsup.apply_rule(tiny_rule, X, widths=(4,), steps=0, batch_size=8)
  for x, words in (
    (np.ones((3, 0)), ["x has no features"]),
    (X[:3].astype(np.complex128), ["x is complex"]),
    (X[:3, :4], ["x has 4 features, the model expects 6"]),
  ):
    with pytest.raises(ValueError) as e:
      model.features(x)
    _one_line(e, *words)


@pytest.mark.parametrize("seed", [2**32 + 7, -1])
def test_seeds_outside_the_prngs_range_are_refused_not_wrapped(tiny_rule, seed, tmp_path):
  """jax.random.PRNGKey keeps 32 bits: seed=2**32+7 gave seed 7's model, -1 seed 2**32-1's."""
  with pytest.raises(ValueError) as e:
    metaunsup.apply_rule(tiny_rule, X, widths=(4,), steps=1, batch_size=8, seed=seed)
  _one_line(e, "seed must be an integer in [0, 2**32 - 1]", str(seed))
  with pytest.raises(ValueError) as e:
    evaluation.support_query_split(Y, 2, 8, seed, 4)
  _one_line(e, "seed must be an integer in [0, 2**32 - 1]")
  with pytest.raises(ValueError) as e:
    metaunsup.train_rule(seed=seed, workdir=tmp_path)
  _one_line(e, "config.seed must be an integer in [0, 2**32 - 1]")


def test_support_query_split_honours_query_size_or_refuses_it():
  """query_size=1000 on 100 labels silently returned 60."""
  labels = np.arange(100) % 4
  support, query = evaluation.support_query_split(labels, 10, 60, 0, 4)
  assert len(support) == 40 and len(query) == 60
  with pytest.raises(ValueError) as e:
    evaluation.support_query_split(labels, 10, 1000, 0, 4)
  _one_line(e, "query_size=1000", "60 labels left", "query_size <= 60")


def test_fewshot_accuracy_refuses_query_classes_absent_from_the_support():
  """Query examples of a class without labelled examples were scored as errors, silently."""
  with pytest.raises(ValueError) as e:
    metaunsup.fewshot_accuracy(X[:8], Y[:8] % 2, X[8:], Y[8:])
  _one_line(e, "query_y has class(es) [2, 3] that support_y lacks")
  with pytest.raises(ValueError) as e:
    metaunsup.fewshot_accuracy(X[:8], Y[:8], X[8:].astype(np.complex64), Y[8:])
  _one_line(e, "query_x is complex")


def test_fewshot_eval_checks_widths_and_seeds_before_training(tiny_rule):
  ds = data.Dataset("blobs", X, Y, X, Y, 4)
  kw = dict(activation="relu", steps=1, batch_size=8, shots=1, query_size=4)
  with pytest.raises(ValueError) as e:
    evaluation.fewshot_eval(tiny_rule, ds, widths="64", seeds=[0], **kw)
  _one_line(e, "widths must be a sequence of positive integers", "'64'")
  with pytest.raises(ValueError) as e:
    evaluation.fewshot_eval(tiny_rule, ds, widths=(4,), seeds=[0, 2**32 + 7], **kw)
  _one_line(e, "seeds[1] must be an integer in [0, 2**32 - 1]")


@pytest.mark.parametrize(
  "overrides,words",
  [
    ({"eval": {"widths": (32.7,)}}, ["config.eval.widths must be a sequence", "(32.7,)"]),
    ({"family": {"widths": (64, 0)}}, ["config.family.widths must be a sequence", "(64, 0)"]),
    ({"eval": {"widths": "64"}}, ["config.eval.widths", "'64'"]),  # ml_collections' type
  ],
)
def test_train_rule_widths_are_checked_before_anything_runs(tmp_path, overrides, words):
  with pytest.raises(ValueError) as e:
    metaunsup.train_rule(workdir=tmp_path / "run", **overrides)
  _one_line(e, *words)
  assert not (tmp_path / "run").exists()


def test_apply_rule_and_load_rule_name_a_wrong_type():
  # A str is a rule's name or path (apply_rule("pretrained", ...)); another type is refused.
  with pytest.raises(TypeError) as e:  # AttributeError: 'int' object has no attribute 'config'
    metaunsup.apply_rule(42, X)
  _one_line(e, "metaunsup.Rule", "load_rule", "int")
  with pytest.raises(TypeError) as e:  # TypeError from pathlib
    metaunsup.load_rule(None)
  _one_line(e, "load_rule takes a path", "NoneType")
  with pytest.raises(TypeError) as e:  # AttributeError: 'NoneType' has no attribute 'split'
    data.load(None, 8)
  _one_line(e, "data set name", "None")


@pytest.mark.parametrize(
  "args,words",
  [
    (
      (X[:8], np.array(list("abcdabcd")), X[8:], np.array(list("abcdabcdabcd"))),
      ["labels must be integers", "'a'"],
    ),  # TypeError from numpy's rint
    ((X[:8], Y[:8], X[:0], Y[:0]), ["query_x is empty"]),  # nan, with warnings
    ((X[:0], Y[:0], X[8:], Y[8:]), ["support_y holds 0 class"]),  # 0.25, with warnings
  ],
)
def test_fewshot_accuracy_bad_labels_and_empty_sets(args, words):
  with pytest.raises(ValueError) as e:
    metaunsup.fewshot_accuracy(*args)
  _one_line(e, *words)


def test_fewshot_accuracy_one_class_support():
  """scikit-learn's 'This solver needs samples of at least 2 classes' from inside it."""
  for head in ("ridge", "logistic"):
    with pytest.raises(ValueError) as e:
      metaunsup.fewshot_accuracy(X[:8], np.zeros(8, int), X[8:], Y[8:], head=head)
    _one_line(e, "support_y holds 1 class", "at least 2")


@pytest.mark.parametrize(
  "args,words",
  [
    ((Y, -1, 8, 0, 4), ["shots", ">= 1"]),  # numpy: negative dimensions
    ((Y, 2.5, 8, 0, 4), ["shots", "2.5"]),  # numpy: expected a sequence of integers
    ((Y, 2, -5, 0, 4), ["query_size", ">= 0"]),  # numpy: negative dimensions
    ((Y + 0.5, 2, 8, 0, 4), ["labels must be integers", "float64"]),  # a cannot be empty
  ],
)
def test_support_query_split_bad_arguments(args, words):
  with pytest.raises(ValueError) as e:
    evaluation.support_query_split(*args)
  _one_line(e, *words)


def test_train_rule_override_of_the_wrong_type_names_the_field(tmp_path):
  """ml_collections' 'Could not override field ... cannot be casted' TypeError."""
  with pytest.raises(ValueError) as e:
    metaunsup.train_rule(meta={"steps": "5"}, workdir=tmp_path)
  _one_line(e, "config.meta.steps", "'5'")
  with pytest.raises(ValueError) as e:
    metaunsup.train_rule(meta="x", workdir=tmp_path)
  _one_line(e, "config.meta", "'x'")


@pytest.mark.parametrize(
  "field", ["meta.learning_rate", "meta.clip_norm", "family.max_noise", "heads.ridge_lambda"]
)
def test_infinite_config_values_are_refused(field):
  """inf passed `value > 0`: --config.meta.learning_rate=inf started meta-training."""
  from metaunsup.configs import default as default_config
  from metaunsup.training import config_checks

  c = default_config.get_config()
  section, name = field.split(".")
  c[section][name] = float("inf")
  with pytest.raises(ValueError) as e:
    config_checks.validate(c)
  _one_line(e, f"config.{field}", "finite", "inf")


@pytest.mark.parametrize(
  "module,flags,words",
  [
    (
      "train",
      ["--config=metaunsup/configs/smoke.py", "--config.meta.stepz=3"],
      ["'stepz'", "steps"],
    ),  # AttributeError traceback
    (
      "evaluation",
      ["--config=metaunsup/configs/nope.py"],
      ["metaunsup/configs/nope.py", "No such file"],
    ),  # OSError traceback from main
    (
      "train",
      ["--config=metaunsup/configs/smoke.py", "--workdir=README.md"],
      ["README.md is a file"],
    ),  # FileExistsError traceback
    # A stray positional argument was ignored: a full default run started in runs/default.
    ("train", ["foo"], ["unexpected argument(s) foo", "only flags"]),
    ("evaluation", ["--config=eval_quick", "foo"], ["unexpected argument(s) foo"]),
    # Configs by name (metaunsup.configs); an unknown one lists the packaged ones.
    ("train", ["--config=nope"], ["unknown config 'nope'", "default, smoke", ".py"]),
    (
      "evaluation",
      ["--config=default"],
      ["unknown config 'default'", "metaunsup.train", "eval_full, eval_quick, eval_cpu"],
    ),
    ("train", ["--config=smoke", "--config.meta.stepz=3"], ["'stepz'", "default, smoke"]),
  ],
)
@pytest.mark.slow
def test_cli_bad_config_flags_are_one_line(module, flags, words):
  import os
  import pathlib
  import subprocess
  import sys

  root = pathlib.Path(__file__).parents[1]
  out = subprocess.run(
    [sys.executable, "-m", f"metaunsup.{module}", *flags],
    cwd=root,
    capture_output=True,
    text=True,
    timeout=120,
    env={**os.environ, "PYTHONPATH": str(root)},
  )
  assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
  last = out.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and all(w in last for w in words), last


@pytest.mark.parametrize(
  "field,value", [("reference_batch", 0), ("query_size", 0), ("num_seeds", 0), ("batch_size", 1)]
)
def test_evaluation_config_counts_are_checked_up_front(field, value):
  """reference_batch=0 was a traceback from inside jax after data loading; query_size=0 an
  error only once the first readout ran."""
  from metaunsup.configs import eval_quick
  from metaunsup.evaluation.config_checks import check_config

  c = eval_quick.get_config()
  c[field] = value
  with pytest.raises(ValueError) as e:
    check_config(c)
  _one_line(e, f"config.{field}", "integer")


def test_missing_evaluation_data_set_fails_before_meta_training(tmp_path):
  """config.eval.datasets=('nope',) was one line too, but only after meta-training ended."""
  from metaunsup import sources, train
  from helpers import tiny_config

  c = tiny_config(steps=2)
  c.eval.datasets = ("nope",)
  with pytest.raises(sources.DataNotFoundError) as e:
    train.train_and_evaluate(c, tmp_path / "run")
  _one_line(e, "nope", "not a metaunsup source")
  assert not (tmp_path / "run").exists()


def test_inputs_too_large_for_float32_batch_norm_are_one_line(tiny_rule):
  """x * 1e18 (64-d digits) was accepted: the batch norm's variance overflowed float32 and
  the features silently shrank to about 0.02 of their size (no NaN, no word)."""
  from metaunsup import base_model
  from metaunsup.baselines import supervised, vae

  big = X * 1e18
  with pytest.raises(ValueError) as e:
    metaunsup.apply_rule(tiny_rule, big, widths=(5, 3), steps=1, batch_size=8, standardize=False)
  _one_line(e, "x_unlabeled", "overflows", "standardise")
  trunk = base_model.init(jax.random.PRNGKey(0), X.shape[1], (5, 3))
  with pytest.raises(ValueError) as e:
    supervised.train_classifier(
      jax.random.PRNGKey(0), trunk, big, Y, activation="relu", num_classes=4, steps=1
    )
  _one_line(e, "x_support", "overflows", "standardise")
  with pytest.raises(ValueError) as e:
    vae.train_vae(
      jax.random.PRNGKey(0),
      trunk,
      np.tile(big, (4, 1)),
      activation="relu",
      cfg=vae.VAEConfig(),
      checkpoints=[1],
    )
  _one_line(e, "x_unlabeled", "overflows", "standardise")
  # The bound is the one its docstring derives, not a guess: just below it, features are
  # finite and of the same size as those of the unscaled inputs.
  n, d = X.shape
  limit = np.sqrt(np.finfo(np.float32).max / n) / (2 * d)
  scale = 0.5 * limit / np.abs(X).max()
  kw = dict(widths=(5, 3), steps=1, batch_size=8, standardize=False)
  near = metaunsup.apply_rule(tiny_rule, X * scale, **kw).features(X * scale)
  plain = metaunsup.apply_rule(tiny_rule, X, **kw).features(X)
  assert np.all(np.isfinite(near))
  # Batch norm makes the features scale-free: same size at both scales (a factor of 2, not
  # the 50x collapse above).
  assert 0.5 < np.abs(near).mean() / np.abs(plain).mean() < 2
