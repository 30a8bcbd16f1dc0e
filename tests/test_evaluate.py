import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import metaunsup
from helpers import tiny_rule_config
from experiments.configs import eval_quick
from metaunsup import eval_report, evaluate, inner, rule


@pytest.fixture(scope="module")
def tiny_rule():
  cfg = tiny_rule_config()
  return metaunsup.Rule(theta=rule.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)


def test_data_spec_parse():
  assert evaluate.DataSpec.parse("mnist@28+perm") == evaluate.DataSpec("mnist", 28, True)
  assert evaluate.DataSpec.parse("reuters") == evaluate.DataSpec("reuters", 14, False)
  for bad in ("@14", "mnist@x", "mnist@"):
    with pytest.raises(ValueError, match="NAME@SIZE"):
      evaluate.DataSpec.parse(bad + ("" if bad != "mnist@" else "x"))


def test_permuted_data_is_a_fixed_column_permutation():
  plain = evaluate.DataSpec.parse("digits@8").load(0)
  permuted = evaluate.DataSpec.parse("digits@8+perm").load(0)
  perm = np.random.default_rng(0).permutation(plain.input_dim)
  np.testing.assert_array_equal(permuted.train_x, plain.train_x[:, perm])
  np.testing.assert_array_equal(permuted.test_y, plain.test_y)


def test_nested_support_is_balanced_and_nested():
  labels = np.repeat(np.arange(3), 20)
  idx = evaluate.nested_support(labels, 5, 3, seed=0)
  assert idx.shape == (3, 5) and len(np.unique(idx)) == 15
  for c in range(3):
    assert np.all(labels[idx[c]] == c)
  with pytest.raises(ValueError, match="fewer than shots=30"):
    evaluate.nested_support(labels, 30, 3, seed=0)


def test_unroll_checkpoints_match_one_unroll(tiny_rule):
  """Checkpoints advance through chunks of 10 and 1 steps; the network at each checkpoint
  is the one a single unroll of that many steps reaches."""
  cfg = evaluate.inner_config(tiny_rule.config, (6, 4), "tanh", 8)
  x = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
  task_data = inner.unlabeled_data(x)
  state = inner.init_task(jax.random.PRNGKey(1), 5, cfg)
  got = dict(evaluate.unroll_checkpoints(tiny_rule.theta, cfg, state, task_data, (0, 3, 13)))
  np.testing.assert_array_equal(got[0].W[0], state.params.W[0])
  once = inner.unroll(tiny_rule.theta, cfg, state, task_data, 13).params
  for a, b in zip(jax.tree_util.tree_leaves(got[13]), jax.tree_util.tree_leaves(once)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field,value,match", [
    ("methods", ("rule", "sgd"), "config.methods has"),
    ("shots", (0, 10), "config.shots must hold integers >= 1"),
    ("datasets", ("mnist@big",), "malformed"),
    ("activation", "gelu", "unknown activation"),
    ("heads", ("svm",), "config.heads must be a subset"),
])
def test_bad_config_values_are_one_line_errors(field, value, match):
  config = eval_quick.get_config()
  config[field] = value
  with pytest.raises(ValueError, match=match):
    evaluate.check_config(config)


def test_verdicts_follow_the_paired_difference():
  assert eval_report.verdict(0.1, 0.02) == "**wins**"
  assert eval_report.verdict(-0.1, 0.02) == "**loses**"
  assert eval_report.verdict(0.01, 0.02) == "level"
  # A seed whose features went non-finite is reported, never averaged away.
  assert eval_report._cell([0.5, float("nan")]) == "diverged"
  assert eval_report.verdict(float("nan"), float("nan")) == "n/a (diverged)"
  assert eval_report.paired({0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.5, 2: 0.9}) == pytest.approx(
      (0.15, 0.05))


@pytest.mark.slow
def test_quick_config_writes_every_file(tmp_path, tiny_rule):
  """The CI-sized pipeline end to end: every method, data set, sweep point and figure.
  (An untrained rule: this checks plumbing, not whether the rule is any good.)"""
  tiny_rule.save(tmp_path / "rule.msgpack")
  config = eval_quick.get_config()
  out = tmp_path / "out"

  class Interrupt(Exception):
    pass

  def stop_after_first_piece(line):
    if line.startswith("  sweep "):
      raise Interrupt
  # A --reverse process (the second of two sharing OUT) starts from the last piece.
  with pytest.raises(Interrupt):
    evaluate.run(tmp_path / "rule.msgpack", config, out, log=stop_after_first_piece,
                 reverse=True)
  # The plain command resumes: the finished piece is read back, nothing else is.
  logs = []
  results = evaluate.run(tmp_path / "rule.msgpack", config, out, log=logs.append)
  last_kind, last_value = evaluate.sweep_architectures(config)[-1][:2]
  assert [line.split(":")[0].strip() for line in logs if "done before" in line] == [
      f"sweep-{last_kind}={last_value}"]
  for name in ("results.json", "results.md", "curves.png", "shots.png", "sweeps.png",
               "receptive_fields.png", "first_layer.npz"):
    assert (out / name).stat().st_size > 0, name
  saved = json.loads((out / "results.json").read_text())
  assert saved["config"]["datasets"] == list(config.datasets)
  cells = {(s["dataset"], s["method"], s["shots"], s["head"]) for s in saved["summary"]}
  for spec in config.datasets:
    for method in config.methods:
      for shots in config.shots:
        for head in config.heads:
          assert (spec, method, shots, head) in cells
  assert all(s["n"] == config.num_seeds for s in saved["summary"])
  accs = np.array([r["accuracy"] for r in results["records"]])
  assert np.all((accs >= 0) & (accs <= 1))
  sweep_points = {(r["sweep"], r["value"]) for r in saved["sweep_records"]}
  assert len(sweep_points) == len(evaluate.sweep_architectures(config))
  md = (out / "results.md").read_text()
  assert "## Headline" in md and "rule vs best other" in md
  # A raw-pixel probe on 10 labels of digits is far above chance; the pipeline's readout
  # must see that (0.1 is chance).
  raw = eval_report.per_seed(saved, "digits@8", "raw", 10, "ridge")
  assert np.mean(list(raw.values())) > 0.6
  # Rerunning a finished evaluation computes nothing and reports the same numbers.
  logs = []
  again = evaluate.run(tmp_path / "rule.msgpack", config, out, log=logs.append)
  units = len(config.datasets) * config.num_seeds + len(sweep_points)
  assert sum("done before" in line for line in logs) == units
  assert again["records"] == results["records"] and again["seconds"] == results["seconds"]


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "metaunsup.evaluate", f"--rule={tmp_path / 'missing'}",
       "--config=experiments/configs/eval_quick.py", f"--out={tmp_path / 'out'}"],
      capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert "error: no rule at" in result.stderr and "Traceback" not in result.stderr
