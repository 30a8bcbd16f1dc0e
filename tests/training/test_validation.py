"""The validation curve (metaunsup/training/validation.py): fixed tasks on the validation part
of the family's train splits, scored every `validation.every` meta-steps against random init,
logged to metrics.jsonl, TensorBoard, curves.png and summary.json, exact across a resume."""

import json

import jax
import ml_collections
import numpy as np
import pytest

import metaunsup
from helpers import MECHANISM_RULE, read_scalars, tiny_config
from metaunsup import monitoring, sources, task_family, train
from metaunsup.configs import default as default_config
from metaunsup.training import config_checks, setup, validation
from metaunsup.training import workdir as workdir_lib


def _config(**val):
  """tiny_config with the validation curve on: every 2 meta-steps, tiny unrolls; the curve is
  the same machinery for every rule: the mechanism rule (fast to compile)."""
  c = tiny_config(MECHANISM_RULE, steps=4)
  c.validation.every, c.validation.inner_steps, c.validation.tasks_per_dataset = 2, (2, 4), 2
  for k, v in val.items():
    c.validation[k] = v
  return c


def _validator(config):
  config = config_checks.complete(config)
  family = task_family.TaskFamily(config, setup.inner_config(config))
  return family, validation.Validator(config, family, setup.rule_of(config))


def test_tasks_are_fixed_and_read_only_the_validation_part():
  family, first = _validator(_config())
  _, second = _validator(_config(every=7))  # another schedule: the same tasks
  assert len(first.tasks) == 2
  for a, b in zip(first.tasks, second.tasks):
    for field in ("classes", "pool", "support", "query"):
      np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  # The same program inputs: network inits, PRNG keys, pools, support and query.
  leaves = [
    jax.tree_util.tree_leaves([(g.states, g.data, g.readout_x) for g in v.groups])
    for v in (first, second)
  ]
  for a, b in zip(*leaves):
    np.testing.assert_array_equal(a, b)
  pools = family.pools
  labels = sources.get("digits", "train").labels
  for task in first.tasks:
    assert task.dataset not in family.config.family.held_out
    held = np.concatenate(pools.validation[task.dataset])
    meta_trained = np.concatenate(pools.by_class[task.dataset])
    labelled = np.concatenate([task.support, task.query])
    # Labels from the validation part only, which meta-training's pools never hold; the
    # unlabeled inner-loop data from meta-training's part.
    assert np.isin(labelled, held).all() and not np.isin(held, meta_trained).any()
    assert np.isin(task.pool, meta_trained).all()
    assert len(np.unique(labelled)) == len(labelled) == 10 * 20
    # Class-balanced, class-major: 10 support then 10 query examples of each class.
    np.testing.assert_array_equal(labels[task.support], np.repeat(task.classes, 10))
    np.testing.assert_array_equal(labels[task.query], np.repeat(task.classes, 10))
  # The validation part: the last 20 (shots + query_per_class) examples of every class.
  for c, idx in enumerate(pools.validation["digits"]):
    np.testing.assert_array_equal(idx, np.flatnonzero(labels == c)[-20:])


def test_disabled_sets_nothing_aside():
  config = config_checks.complete(_config(every=0))
  family = task_family.TaskFamily(config, setup.inner_config(config))
  with pytest.raises(ValueError, match="validation.every > 0"):
    validation.Validator(config, family, setup.rule_of(config))
  labels = sources.get("digits", "train").labels
  assert all(len(idx) == 0 for idx in family.pools.validation["digits"])
  for c, idx in enumerate(family.pools.by_class["digits"]):
    np.testing.assert_array_equal(idx, np.flatnonzero(labels == c))


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("every", -1, "config.validation.every must be an integer >= 0"),
    ("inner_steps", (), "config.validation.inner_steps must be a non-empty list"),
    ("inner_steps", (300, 100), "config.validation.inner_steps must be increasing"),
    ("inner_steps", (0, 100), r"config.validation.inner_steps\[...\] must be an integer >= 1"),
    ("tasks_per_dataset", 0, "config.validation.tasks_per_dataset must be an integer >= 1"),
    ("query_per_class", 0, "config.validation.query_per_class must be an integer >= 1"),
  ],
)
def test_bad_fields_are_one_line_errors(field, value, message):
  c = default_config.get_config()
  c.validation[field] = value
  with pytest.raises(ValueError, match=message) as e:
    config_checks.validate(c)
  assert "\n" not in str(e.value)


def test_a_config_or_workdir_from_before_the_section_runs_as_it_did(tmp_path):
  old = default_config.get_config().to_dict()
  del old["validation"]
  assert config_checks.complete(ml_collections.ConfigDict(old)).validation.every == 0
  (tmp_path / "config.json").write_text(
    json.dumps(json.loads(ml_collections.ConfigDict(old).to_json()))
  )
  # Extending an older run with the curve on would change its pools: refused, by name.
  every = default_config.get_config().validation.every
  with pytest.raises(ValueError, match=rf"validation\.every \(0 -> {every}\)"):
    workdir_lib.check_workdir_config(
      tmp_path, config_checks.complete(default_config.get_config()), write=False
    )
  same = default_config.get_config()
  same.validation.every = 0
  workdir_lib.check_workdir_config(tmp_path, config_checks.complete(same), write=False)


@pytest.mark.slow
def test_shipped_rule_beats_random_init_on_the_validation_tasks():
  shipped = metaunsup.load_rule("pretrained")
  c = default_config.get_config()
  c.family.datasets, c.family.image_sizes = ("digits",), (8,)
  c.validation.inner_steps, c.validation.tasks_per_dataset = (50,), 2
  with c.unlocked():
    c.rule = ml_collections.ConfigDict({"kind": shipped.config.kind, **shipped.config.to_dict()})
  _, v = _validator(c)
  row = v(shipped.theta)
  # Measured: 0.86 against 0.665 (two tasks of 100 queries each).
  assert row["val_accuracy"] > row["val_accuracy_random_init"] + 0.1, row


@pytest.mark.slow
def test_rows_every_n_steps_logged_everywhere_and_exact_across_resume(tmp_path, monkeypatch):
  full = train.train_and_evaluate(_config(), tmp_path / "full")[1]
  # Stopped after 2 steps (a checkpoint at 2), then resumed to 4.
  half, split = _config(), tmp_path / "split"
  half.meta.steps = 2
  train.train_and_evaluate(half, split)
  calls, real_call = [], validation.Validator.__call__

  def counted(self, theta):
    calls.append(1)
    return real_call(self, theta)

  monkeypatch.setattr(validation.Validator, "__call__", counted)
  resumed = train.train_and_evaluate(_config(), split)[1]
  assert len(calls) == 2  # steps 2 and 3; the rows of 0 and 1 are read back, not recomputed
  rows = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
  # Every 2 steps and at a run's last step (the stopped run's 1, the finished runs' 3).
  assert [r["step"] for r in full if "val_accuracy" in r] == [0, 2, 3]
  assert [r["step"] for r in rows if "val_accuracy" in r] == [0, 1, 2, 3]
  val_keys = [k for k in full[0] if k.startswith("val_") and k != "val_seconds"]
  assert set(val_keys) == {
    "val_accuracy",
    "val_accuracy_by_steps",
    "val_accuracy_by_dataset",
    "val_accuracy_random_init",
    "val_random_init_by_dataset",
  }
  # Exact: the same programs on the same inputs (theta restored bit for bit).
  for a, b, c in zip(full, resumed, rows):
    if "val_accuracy" in a:
      assert {k: a.get(k) for k in val_keys} == {k: b.get(k) for k in val_keys}
      assert {k: a.get(k) for k in val_keys} == {k: c.get(k) for k in val_keys}
  assert list(rows[0]["val_accuracy_by_steps"]) == ["2", "4"]
  board = read_scalars(split / "tensorboard")
  assert board["validation/val_accuracy"] == pytest.approx(
    {r["step"]: r["val_accuracy"] for r in rows if "val_accuracy" in r}
  )
  fig = monitoring.plot_curves(rows)
  assert len(fig.axes) == 3
  curves = [line for line in fig.axes[2].lines if line.get_label().startswith("rule")]
  assert [tuple(line.get_xdata()) for line in curves] == [(0, 1, 2, 3), (0, 1, 2, 3)]
  assert [list(line.get_ydata()) for line in curves] == [
    [r["val_accuracy_by_steps"][n] for r in rows if "val_accuracy" in r] for n in ("2", "4")
  ]
  summary = workdir_lib.read_summary(split)
  assert (summary["val_step_first"], summary["val_step_last"]) == (0, 3)
  assert summary["val_accuracy_first"] == rows[0]["val_accuracy"]
  assert summary["val_accuracy_last"] == rows[3]["val_accuracy"]
  assert summary["val_accuracy_random_init"] == rows[0]["val_accuracy_random_init"]
