"""Meta-training under faults: non-finite meta-gradients, damaged or unwritable files.
Tiny configs on real data (scikit-learn digits), as in test_meta_training."""

import errno
import json
import pathlib
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import metaunsup
from helpers import tiny_rule_config
from metaunsup import checkpointing, file_faults, rule, train
from metaunsup.training import meta_step
from helpers import tiny_config


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
  c = tiny_config(steps=6, checkpoint_every=1, max_consecutive_skips=2)
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
    train.train_and_evaluate(tiny_config(steps=4, checkpoint_every=2), tmp_path)
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
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
  full = train.train_and_evaluate(tiny_config(steps=4, checkpoint_every=2), tmp_path / "a")[0]
  shutil.copytree(tmp_path / "a", tmp_path / "b")
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
  resumed = train.train_and_evaluate(tiny_config(steps=4, checkpoint_every=2), tmp_path / "b")[0]
  assert "resuming from the checkpoint of step 2" in capsys.readouterr().err
  assert (tmp_path / "b" / "checkpoints.damaged" / "4").is_dir()  # kept, not deleted
  # Exact: the same jitted meta-step on the same inputs (theta restored bit for bit).
  for a, b in zip(jax.tree_util.tree_leaves(full.theta), jax.tree_util.tree_leaves(resumed.theta)):
    np.testing.assert_array_equal(a, b)


def test_damaged_rule_file_is_a_one_line_error(tmp_path):
  cfg = tiny_rule_config()
  tiny_rule = metaunsup.Rule(theta=rule.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)
  tiny_rule.save(tmp_path / "rule.msgpack")
  data = (tmp_path / "rule.msgpack").read_bytes()
  (tmp_path / "rule.msgpack").write_bytes(data[: len(data) // 2])
  with pytest.raises(file_faults.DamagedFileError, match="rule.msgpack: damaged") as e:
    metaunsup.load_rule(tmp_path / "rule.msgpack")
  assert "\n" not in str(e.value) and "make meta-train" in str(e.value)
