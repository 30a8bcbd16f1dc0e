import subprocess
import sys

import jax
import numpy as np
import pytest

import metaunsup
from helpers import assert_close_at_scale, tiny_rule_config
from metaunsup import base_model, data, preprocess
from metaunsup.rules import learned


@pytest.fixture(scope="module")
def tiny_rule():
  cfg = tiny_rule_config()
  return metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", 8)


def test_apply_rule_zero_steps_is_the_random_init(tiny_rule, digits):
  model = metaunsup.apply_rule(
    tiny_rule, digits.train_x, widths=(12, 6), steps=0, batch_size=32, seed=3
  )
  # apply_rule -> init_task -> base_model.init: the same key path, independently derived.
  task_key = jax.random.split(jax.random.PRNGKey(3))[0]
  expected = base_model.init(jax.random.split(task_key, 4)[0], 64, (12, 6))
  for a, b in zip(model.params.W, expected.W):
    np.testing.assert_array_equal(a, b)
  feats = model.features(digits.test_x[:5])
  assert isinstance(feats, np.ndarray) and feats.shape == (5, 6)


def test_apply_rule_trains_and_features_are_per_example(tiny_rule, digits):
  model = metaunsup.apply_rule(
    tiny_rule, digits.train_x, widths=(12, 6), steps=7, batch_size=32, seed=0, chunk=3
  )
  start = metaunsup.apply_rule(
    tiny_rule, digits.train_x, widths=(12, 6), steps=0, batch_size=32, seed=0
  )
  assert not np.allclose(model.params.W[0], start.params.W[0])
  both = model.features(digits.test_x[:4])
  # A batch of 4 and a batch of 1 are two programs (other matmul kernels): a few float32 eps
  # of the features' scale; features that mixed examples would differ by O(1).
  assert_close_at_scale(model.features(digits.test_x[:1]), both[:1], rel=1e-5)


def test_apply_rule_defaults_are_the_shipped_rules_setting():
  """apply_rule's default network, inner steps and batch are those the shipped rule was
  meta-trained and evaluated with (its provenance.json): a 64-64-32 network (the run's
  held-out evaluation and `make evaluate`), 300 inner steps (the longest task of its
  meta-training and its run's evaluation), batches of 64; inputs standardised."""
  import inspect
  from metaunsup import pretrained

  cfg = pretrained.provenance()["config"]
  defaults = {k: p.default for k, p in inspect.signature(metaunsup.apply_rule).parameters.items()}
  assert tuple(defaults["widths"]) == tuple(cfg["eval"]["widths"]) == (64, 64, 32)
  assert defaults["steps"] == cfg["eval"]["inner_steps"] == cfg["inner"]["max_total_steps"]
  assert defaults["batch_size"] == cfg["eval"]["batch_size"] == cfg["family"]["batch_sizes"][0]
  assert defaults["activation"] == cfg["eval"]["activation"]
  assert defaults["standardize"] is True


def test_apply_rule_standardizes_as_meta_training_and_the_evaluation_do(tiny_rule, digits):
  """standardize=True (the default) fits one mean and one std over all values of
  x_unlabeled (`preprocess.Standardizer`, as `data.load` does with a training split), keeps
  it in the model, and `features` applies it: raw inputs give exactly the network that
  inputs standardised beforehand give with standardize=False."""
  raw = digits.train_x * 3.0 + 7.0
  scale = preprocess.Standardizer.fit(raw)
  kw = dict(widths=(12, 6), steps=5, batch_size=32, seed=1)
  model = metaunsup.apply_rule(tiny_rule, raw, **kw)
  assert model.standardizer == scale
  given = metaunsup.apply_rule(tiny_rule, scale(raw), standardize=False, **kw)
  assert given.standardizer is None
  # The same program on the same standardised inputs: exactly equal.
  for a, b in zip(model.params.W, given.params.W):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(model.features(raw[:5]), given.features(scale(raw[:5])))
  # Inputs far from unit scale, which the base network's batch norm refuses as they are,
  # train once standardised.
  huge = metaunsup.apply_rule(tiny_rule, raw * 1e15, **kw)
  assert np.all(np.isfinite(huge.features(raw[:5] * 1e15)))
  with pytest.raises(ValueError, match="overflows"):
    metaunsup.apply_rule(tiny_rule, raw * 1e15, standardize=False, **kw)


def test_rule_file_round_trip(tmp_path, tiny_rule):
  tiny_rule.save(tmp_path / "r.msgpack")
  loaded = metaunsup.load_rule(tmp_path / "r.msgpack")
  assert loaded.config == tiny_rule.config
  for a, b in zip(
    jax.tree_util.tree_leaves(loaded.theta), jax.tree_util.tree_leaves(tiny_rule.theta)
  ):
    np.testing.assert_array_equal(a, b)
  (tmp_path / "bad.msgpack").write_bytes(b"not a rule")
  with pytest.raises(ValueError, match="not a metaunsup rule file"):
    metaunsup.load_rule(tmp_path / "bad.msgpack")
  with pytest.raises(FileNotFoundError, match="no rule at"):
    metaunsup.load_rule(tmp_path / "missing")


@pytest.mark.parametrize(
  "x,kwargs,match",
  [
    (np.ones((10, 2, 2)), {}, "2-D array"),
    (np.full((10, 4), np.nan), {}, "NaN"),
    (np.ones((10, 4)), {"steps": -1}, "steps"),
    (np.ones((10, 4)), {"batch_size": 64}, "batch_size"),
    (np.ones((10, 4)), {"activation": "nope"}, "unknown activation"),
    (np.ones((10, 4)), {"widths": (0,)}, "widths"),
    (np.ones((1, 4)), {"batch_size": 2}, "needs at least 2 examples"),
    (np.full((10, 4), 1e39), {}, "overflow float32"),
  ],
)
def test_apply_rule_rejects_bad_input(tiny_rule, x, kwargs, match):
  args = dict(widths=(4,), steps=1, batch_size=4)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    metaunsup.apply_rule(tiny_rule, x, **args)


def test_features_reject_wrong_width(tiny_rule, digits):
  model = metaunsup.apply_rule(tiny_rule, digits.train_x, widths=(6,), steps=0, batch_size=32)
  with pytest.raises(ValueError, match="expects 64"):
    model.features(np.ones((2, 10)))


@pytest.mark.slow
def test_train_rule_overrides_and_cli_errors(tmp_path):
  with pytest.raises(ValueError, match="unknown config field"):
    metaunsup.train_rule(workdir=tmp_path, meta={"stepz": 3})
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "metaunsup.train",
      "--config=metaunsup/configs/smoke.py",
      f"--workdir={tmp_path / 'cli'}",
      "--config.meta.learning_rate=-1",
    ],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "error: config.meta.learning_rate must be a positive, finite number" in result.stderr
  assert "Traceback" not in result.stderr
