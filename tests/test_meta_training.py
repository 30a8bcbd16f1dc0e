"""Meta-training end to end on small configs (real data: scikit-learn digits), and under
faults: non-finite meta-gradients, damaged or unwritable files.

One file (the faults were tests/test_reliability_training.py), so that every run of
`_config` shares one process: the first run compiles its programs, the later ones reuse
them, and the finished 4-step run (`full_run`) is the reference or the starting workdir of
three tests. The runs use MECHANISM_RULE (a one-term compact rule): what is tested here is
the run around the rule, which every rule goes through alike, and its meta-step compiles in
a third of the tiny learned rule's time; the learned rule meta-trains end to end in the
notebooks' and the CLIs' tests."""

import errno
import json
import pathlib
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import metaunsup
from helpers import MECHANISM_RULE, read_scalars, tiny_config, tiny_rule_config
from metaunsup import checkpointing, file_faults, train
from metaunsup.rules import learned
from metaunsup.training import meta_step


def _config(**meta):
  return tiny_config(MECHANISM_RULE, **meta)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
  """_config(steps=4) (a checkpoint every 2 steps) run to the end once: (its rule, its
  workdir). Tests that change a workdir copy this one; none writes into it."""
  workdir = tmp_path_factory.mktemp("full_run") / "full"
  return train.train_and_evaluate(_config(steps=4), workdir)[0], workdir


@pytest.mark.slow
def test_run_writes_files_and_resumes_exactly(tmp_path, full_run):
  full_rule, _ = full_run
  # Interrupted after 2 steps (checkpoint at 2), then resumed to 4.
  half = train.train_and_evaluate(_config(steps=2), tmp_path / "split")[0]
  # An unfinished run's workdir (no rule file yet) still loads from its newest checkpoint.
  (tmp_path / "split" / "rule.msgpack").unlink()
  from_checkpoint = metaunsup.load_rule(tmp_path / "split")
  np.testing.assert_array_equal(from_checkpoint.theta["mix"], half.theta["mix"])
  resumed = train.train_and_evaluate(_config(steps=4), tmp_path / "split")
  # Exact: the same jitted meta-step on the same inputs (theta restored bit for bit).
  for a, b in zip(
    jax.tree_util.tree_leaves(full_rule.theta), jax.tree_util.tree_leaves(resumed[0].theta)
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
  assert set(summary["compact_mix"]) == {"oja"}  # the rule's own summary
  assert (tmp_path / "split" / "rule.msgpack").exists()
  # Watching the run: TensorBoard events of every step across the resume, and curves.png.
  board = read_scalars(tmp_path / "split" / "tensorboard")
  assert board["meta/meta_loss"] == pytest.approx({r["step"]: r["meta_loss"] for r in rows})
  assert (tmp_path / "split" / "curves.png").stat().st_size > 5000
  assert sorted(
    p.name for p in (tmp_path / "split" / "checkpoints").iterdir() if not p.name.startswith(".")
  ) == ["2", "4"]


@pytest.mark.slow
def test_changed_config_refuses_to_resume(tmp_path, full_run):
  # A copy of a finished run's workdir (the config is compared first, meta.steps aside).
  shutil.copytree(full_run[1], tmp_path / "run")
  other = _config(steps=2)
  other.family.batch_sizes = (16,)
  with pytest.raises(ValueError, match="different config"):
    train.train_and_evaluate(other, tmp_path / "run")


@pytest.mark.parametrize("held_out", [("digits",), ("digits:train",)])
def test_sampler_refuses_held_out_data(tmp_path, held_out):
  c = _config()
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
    train.train_and_evaluate(_config(steps=3, checkpoint_every=10), tmp_path)
  assert [p.name for p in (tmp_path / "checkpoints").iterdir() if not p.name.startswith(".")] == [
    "2"
  ]
  monkeypatch.setattr(train, "meta_step", real_step)
  train.train_and_evaluate(_config(steps=3, checkpoint_every=10), tmp_path)
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [0, 1, 2]


# ---- under faults -------------------------------------------------------------------------


def _strict_rows(path: pathlib.Path) -> list[dict]:
  def reject(c):
    raise ValueError(f"bare {c} in {path}")

  return [json.loads(l, parse_constant=reject) for l in path.read_text().splitlines()]


@pytest.mark.slow
def test_streak_of_non_finite_meta_gradients_stops_before_saving(tmp_path, monkeypatch):
  """NaN inputs (hence NaN meta-gradients) from the third meta-step on, max 2 skips in a
  row: the run stops with one line after the fourth step; the newest checkpoint holds the
  finite theta of step 2 and no rule.msgpack is written."""
  real_step, calls = train.meta_step, []

  def nan_from_third_call(state, task_data, **kw):
    calls.append(1)
    if len(calls) >= 3:
      task_data = tuple(d.replace(x=d.x * np.nan) for d in task_data)
    return real_step(state, task_data, **kw)

  monkeypatch.setattr(train, "meta_step", nan_from_third_call)
  c = _config(steps=6, checkpoint_every=1, max_consecutive_skips=2)
  with pytest.raises(
    meta_step.NonFiniteMetaGradientError, match="2 non-finite meta-gradients in a row"
  ) as e:
    train.train_and_evaluate(c, tmp_path)
  assert "\n" not in str(e.value) and len(calls) == 4
  assert not (tmp_path / checkpointing.RULE_FILE).exists()
  newest = metaunsup.load_rule(tmp_path)
  assert newest.meta["checkpoint_step"] == 3  # step 3 (one skip) saved, step 4 not
  leaves = jax.tree_util.tree_leaves(newest.theta)
  assert all(np.all(np.isfinite(l)) for l in leaves)
  rows = _strict_rows(tmp_path / "metrics.jsonl")  # the skipped step's NaN loss is null
  assert [r["step"] for r in rows] == [0, 1, 2] and rows[2]["meta_loss"] is None
  with pytest.raises(ValueError, match="NaN or inf"):
    checkpointing.save_rule_file(tmp_path / "x.msgpack", {"a": np.array([np.nan])}, {})


@pytest.mark.slow
def test_full_disk_during_a_checkpoint_save_keeps_the_previous_one(tmp_path, monkeypatch):
  real_save = ocp.CheckpointManager.save

  def no_space_at_step_4(self, step, *args, **kwargs):
    if step == 4:
      raise OSError(errno.ENOSPC, "No space left on device")
    return real_save(self, step, *args, **kwargs)

  monkeypatch.setattr(ocp.CheckpointManager, "save", no_space_at_step_4)
  with pytest.raises(file_faults.WriteFailedError, match="no space left on device") as e:
    train.train_and_evaluate(_config(steps=4, checkpoint_every=2), tmp_path)
  assert "\n" not in str(e.value) and "step 2 is intact" in str(e.value)
  assert metaunsup.load_rule(tmp_path).meta["checkpoint_step"] == 2
  with monkeypatch.context() as m:
    m.setattr(
      checkpointing.os,
      "replace",
      lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")),
    )
    with pytest.raises(file_faults.WriteFailedError, match="no space left") as e:
      checkpointing.atomic_write_json(tmp_path / "config.json", {})
  assert json.loads((tmp_path / "config.json").read_text())["seed"] == 0  # intact
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".config.json")]


def _truncate_all(folder: pathlib.Path) -> None:
  for f in folder.rglob("*"):
    if f.is_file():
      f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])


@pytest.mark.slow
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, full_run):
  full, workdir = full_run  # _config(steps=4, checkpoint_every=2), finished
  shutil.copytree(workdir, tmp_path / "b")
  (tmp_path / "b" / checkpointing.RULE_FILE).unlink()
  shutil.copytree(tmp_path / "b", tmp_path / "c")
  for folder in ("b/checkpoints/4", "c/checkpoints/4", "c/checkpoints/2"):
    _truncate_all(tmp_path / folder)
  # None reads back: one line, and nothing is moved.
  with pytest.raises(file_faults.DamagedFileError, match="no checkpoint reads back") as e:
    metaunsup.load_rule(tmp_path / "c")
  assert "\n" not in str(e.value)
  assert sorted(
    p.name for p in (tmp_path / "c" / "checkpoints").iterdir() if not p.name.startswith(".")
  ) == ["2", "4"]
  resumed = train.train_and_evaluate(_config(steps=4, checkpoint_every=2), tmp_path / "b")[0]
  assert "resuming from the checkpoint of step 2" in capsys.readouterr().err
  assert (tmp_path / "b" / "checkpoints.damaged" / "4").is_dir()  # kept, not deleted
  # Exact: the same jitted meta-step on the same inputs (theta restored bit for bit).
  for a, b in zip(jax.tree_util.tree_leaves(full.theta), jax.tree_util.tree_leaves(resumed.theta)):
    np.testing.assert_array_equal(a, b)


def test_damaged_rule_file_is_a_one_line_error(tmp_path):
  cfg = tiny_rule_config()
  tiny_rule = metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)
  tiny_rule.save(tmp_path / "rule.msgpack")
  data = (tmp_path / "rule.msgpack").read_bytes()
  (tmp_path / "rule.msgpack").write_bytes(data[: len(data) // 2])
  with pytest.raises(file_faults.DamagedFileError, match="rule.msgpack: damaged") as e:
    metaunsup.load_rule(tmp_path / "rule.msgpack")
  assert "\n" not in str(e.value) and "make meta-train" in str(e.value)
