"""Meta-training end to end on small configs (real data: scikit-learn digits)."""
import json

import jax
import numpy as np
import pytest

import dataclasses

import optax

import metaunsup

from conftest import per_task
from metaunsup import data, default_config, estimators, inner, preprocess, rule, train
from metaunsup.training import meta_step, truncation_schedule


def tiny_config(**meta):
  c = default_config.get_config()
  c.family.datasets, c.family.image_sizes = ("digits",), (8,)
  c.family.depths, c.family.widths, c.family.feature_width = (1,), (16,), 8
  c.family.num_buckets, c.family.tasks_per_bucket, c.family.batch_sizes = 2, 2, (32,)
  c.family.pool_per_class, c.family.activations = 32, ("relu", "tanh")
  c.rule.channels, c.rule.hidden, c.rule.readout_rank = 4, 8, 2
  c.inner.truncation_lengths = (2, 3)
  c.inner.min_total_steps, c.inner.max_total_steps, c.inner.reference_batch = 4, 10, 64
  c.meta.steps, c.meta.checkpoint_every = 4, 2
  c.eval.datasets, c.eval.image_size, c.eval.widths = ("digits",), 8, (16, 8)
  c.eval.num_seeds, c.eval.inner_steps, c.eval.query_size = 2, 3, 100
  c.eval.heads = ("ridge",)
  for k, v in meta.items():
    c.meta[k] = v
  return c


def test_meta_loss_decreases_on_a_small_fixed_task():
  """Real data (digits), one fixed set of tasks and keys: Adam on theta must lower the
  meta-loss of exactly that truncation."""
  c = tiny_config(learning_rate=1e-2)
  ds = data.load("digits", 8)
  cfg = dataclasses.replace(train.inner_config(c), widths=(16, 8), batch_size=32,
                            augment=preprocess.AugmentConfig())
  task_data = per_task(inner.make_task_data(ds.train_x, ds.train_y, ds.num_classes), 4)
  opt = meta_step.make_optimizer(c.meta)
  theta = rule.init_theta(jax.random.PRNGKey(0), cfg.rule)
  states = truncation_schedule.init_tasks(jax.random.PRNGKey(1), ds.input_dim, cfg, 4)
  # Advance the tasks first so the rule has changed the networks it is judged on.
  loss_fn = jax.jit(lambda th: estimators.truncated_bptt_gradient(th, cfg, states, task_data, 5))
  opt_state = opt.init(theta)
  first = float(loss_fn(theta).loss)
  for _ in range(25):
    mg = loss_fn(theta)
    updates, opt_state = opt.update(mg.grads, opt_state, theta)
    theta = optax.apply_updates(theta, updates)
  last = float(loss_fn(theta).loss)
  assert last < first - 0.05, (first, last)


def test_run_writes_files_and_resumes_exactly(tmp_path):
  full = train.train_and_evaluate(tiny_config(steps=4), tmp_path / "full")
  # Interrupted after 2 steps (checkpoint at 2), then resumed to 4.
  half = train.train_and_evaluate(tiny_config(steps=2), tmp_path / "split")[0]
  # An unfinished run's workdir (no rule file yet) still loads from its newest checkpoint.
  (tmp_path / "split" / "rule.msgpack").unlink()
  from_checkpoint = metaunsup.load_rule(tmp_path / "split")
  np.testing.assert_array_equal(from_checkpoint.theta["mix"], half.theta["mix"])
  resumed = train.train_and_evaluate(tiny_config(steps=4), tmp_path / "split")
  for a, b in zip(jax.tree_util.tree_leaves(full[0].theta),
                  jax.tree_util.tree_leaves(resumed[0].theta)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  rows = [json.loads(l) for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [0, 1, 2, 3]
  for key in ("meta_loss", "query_accuracy", "grad_norm", "skipped", "seconds",
              "data_seconds", "step_seconds", "bucket_loss"):
    assert all(key in r for r in rows)
  summary = json.loads((tmp_path / "split" / "summary.json").read_text())
  for key in ("meta_loss_first", "meta_loss_last", "fewshot_acc_rule",
              "fewshot_acc_random_init", "config", "seed", "buckets", "data_to_step_ratio"):
    assert key in summary
  assert summary["eval_data"] == "digits" and "digits" in summary["eval"]
  assert len(summary["buckets"]) == 2
  assert len(summary["fewshot_acc_rule_per_seed"]) == 2
  assert len(summary["rule_mix"]) == rule.RuleConfig(readout_rank=2).num_terms
  assert (tmp_path / "split" / "rule.msgpack").exists()
  # Watching the run: TensorBoard events of every step across the resume, and curves.png.
  from test_monitoring import read_scalars
  board = read_scalars(tmp_path / "split" / "tensorboard")
  assert board["meta/meta_loss"] == pytest.approx({r["step"]: r["meta_loss"] for r in rows})
  assert (tmp_path / "split" / "curves.png").stat().st_size > 5000
  assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()
                if not p.name.startswith(".")) == ["2", "4"]


def test_changed_config_refuses_to_resume(tmp_path):
  train.train_and_evaluate(tiny_config(steps=2), tmp_path)
  other = tiny_config(steps=2)
  other.family.batch_sizes = (16,)
  with pytest.raises(ValueError, match="different config"):
    train.train_and_evaluate(other, tmp_path)


def test_non_finite_meta_gradients_are_skipped_and_counted():
  c = tiny_config()
  opt = meta_step.make_optimizer(c.meta)
  theta = {"a": jax.numpy.ones(3)}
  state = opt.init(theta)
  updates, state = opt.update({"a": jax.numpy.array([1.0, np.nan, 0.0])}, state, theta)
  assert np.all(np.asarray(updates["a"]) == 0) and int(state.total_notfinite) == 1
  updates, state = opt.update({"a": jax.numpy.ones(3)}, state, theta)
  assert np.all(np.asarray(updates["a"]) != 0) and int(state.total_notfinite) == 1


@pytest.mark.parametrize("section,field,value,match", [
    ("meta", "steps", 0, "meta.steps"),
    ("meta", "learning_rate", -1.0, "meta.learning_rate"),
    ("family", "batch_sizes", (1,), "family.batch_sizes"),
    ("family", "activations", ("gelu9",), "family.activations"),
    ("family", "datasets", (), "family.datasets"),
    ("family", "image_sizes", (13,), "family.image_sizes"),
    ("family", "augment", ("blur",), "family.augment"),
    ("family", "pool_per_class", 5, "family.pool_per_class"),
    ("inner", "remat", None, "inner.remat"),
    ("eval", "heads", ("knn",), "eval.heads"),
    ("eval", "activation", "gelu9", "eval.activation"),
])
def test_bad_config_values_fail_fast_with_one_line(tmp_path, section, field, value, match):
  c = tiny_config()
  c[section][field] = value
  with pytest.raises(ValueError, match=match) as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value)
  assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("held_out", [("digits",), ("digits:train",)])
def test_sampler_refuses_held_out_data(tmp_path, held_out):
  c = tiny_config()
  c.family.held_out = held_out
  with pytest.raises(ValueError, match="held out") as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value)


def test_meta_step_compiles_once_per_truncation_length():
  """Two buckets of different shapes, fresh data every step: still one compile."""
  c = tiny_config()
  family = train.task_family.TaskFamily(c, train.inner_config(c))
  cfgs = tuple(b.cfg for b in family.buckets)
  opt = meta_step.make_optimizer(c.meta)
  theta = rule.init_theta(jax.random.PRNGKey(0), cfgs[0].rule)
  opt_state = opt.init(theta)
  tasks = truncation_schedule.init_family_tasks(jax.random.PRNGKey(1), family)
  ids = family.initial_datasets()
  before = meta_step.meta_step._cache_size()
  for i in range(3):
    task_data, _ = family.step_data(i, ids)
    theta, opt_state, tasks, _, done, _ = meta_step.meta_step(
        theta, opt_state, tasks, tuple(() for _ in cfgs), task_data, jax.random.PRNGKey(i),
        cfgs=cfgs, opt=opt, k=2)
    ids = family.reassign(i, ids, done)
  assert meta_step.meta_step._cache_size() - before == 1


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
  assert [p.name for p in (tmp_path / "checkpoints").iterdir()
          if not p.name.startswith(".")] == ["2"]
  monkeypatch.setattr(train, "meta_step", real_step)
  train.train_and_evaluate(tiny_config(steps=3, checkpoint_every=10), tmp_path)
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [0, 1, 2]
