"""Meta-training end to end on small configs (real data: scikit-learn digits)."""

import json

import jax
import numpy as np
import pytest

import metaunsup
from helpers import read_scalars, tiny_config
from metaunsup import rule, train


@pytest.mark.slow
def test_run_writes_files_and_resumes_exactly(tmp_path):
  full = train.train_and_evaluate(tiny_config(steps=4), tmp_path / "full")
  # Interrupted after 2 steps (checkpoint at 2), then resumed to 4.
  half = train.train_and_evaluate(tiny_config(steps=2), tmp_path / "split")[0]
  # An unfinished run's workdir (no rule file yet) still loads from its newest checkpoint.
  (tmp_path / "split" / "rule.msgpack").unlink()
  from_checkpoint = metaunsup.load_rule(tmp_path / "split")
  np.testing.assert_array_equal(from_checkpoint.theta["mix"], half.theta["mix"])
  resumed = train.train_and_evaluate(tiny_config(steps=4), tmp_path / "split")
  # Exact: the same jitted meta-step on the same inputs (theta restored bit for bit).
  for a, b in zip(
    jax.tree_util.tree_leaves(full[0].theta), jax.tree_util.tree_leaves(resumed[0].theta)
  ):
    np.testing.assert_array_equal(a, b)
  rows = [json.loads(l) for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [0, 1, 2, 3]
  for key in (
    "meta_loss",
    "query_accuracy",
    "grad_norm",
    "skipped",
    "seconds",
    "data_seconds",
    "step_seconds",
    "bucket_loss",
  ):
    assert all(key in r for r in rows)
  assert not any(k.startswith("val_") for r in rows for k in r)  # validation.every=0: off
  summary = json.loads((tmp_path / "split" / "summary.json").read_text())
  for key in (
    "meta_loss_first",
    "meta_loss_last",
    "fewshot_acc_rule",
    "fewshot_acc_random_init",
    "config",
    "seed",
    "buckets",
    "data_to_step_ratio",
  ):
    assert key in summary
  assert summary["eval_data"] == "digits" and "digits" in summary["eval"]
  assert not any(k.startswith("val_") for k in summary)
  assert len(summary["buckets"]) == 2
  assert len(summary["fewshot_acc_rule_per_seed"]) == 2
  assert len(summary["rule_mix"]) == rule.RuleConfig(readout_rank=2).num_terms
  assert (tmp_path / "split" / "rule.msgpack").exists()
  # Watching the run: TensorBoard events of every step across the resume, and curves.png.
  board = read_scalars(tmp_path / "split" / "tensorboard")
  assert board["meta/meta_loss"] == pytest.approx({r["step"]: r["meta_loss"] for r in rows})
  assert (tmp_path / "split" / "curves.png").stat().st_size > 5000
  assert sorted(
    p.name for p in (tmp_path / "split" / "checkpoints").iterdir() if not p.name.startswith(".")
  ) == ["2", "4"]


@pytest.mark.slow
def test_changed_config_refuses_to_resume(tmp_path):
  train.train_and_evaluate(tiny_config(steps=2), tmp_path)
  other = tiny_config(steps=2)
  other.family.batch_sizes = (16,)
  with pytest.raises(ValueError, match="different config"):
    train.train_and_evaluate(other, tmp_path)


@pytest.mark.parametrize("held_out", [("digits",), ("digits:train",)])
def test_sampler_refuses_held_out_data(tmp_path, held_out):
  c = tiny_config()
  c.family.held_out = held_out
  with pytest.raises(ValueError, match="held out") as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value)


@pytest.mark.slow
def test_interrupt_checkpoints_finished_steps_and_resumes(tmp_path, monkeypatch):
  real_step, calls = train.meta_step, []

  def interrupted_on_third_call(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return real_step(*args, **kwargs)

  monkeypatch.setattr(train, "meta_step", interrupted_on_third_call)
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(tiny_config(steps=3, checkpoint_every=10), tmp_path)
  assert [p.name for p in (tmp_path / "checkpoints").iterdir() if not p.name.startswith(".")] == [
    "2"
  ]
  monkeypatch.setattr(train, "meta_step", real_step)
  train.train_and_evaluate(tiny_config(steps=3, checkpoint_every=10), tmp_path)
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [0, 1, 2]
