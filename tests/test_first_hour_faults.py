"""The three faults a user met in a first hour (issue 39), each fixed by kind: (a) a refused
run leaves the workdir as it found it (a warm start typed wrong wrote config.json, and the
corrected command was then refused); (b) one run per workdir, by an OS lock (two runs
started together interleaved their metrics); (c) every error reading a rule file names the
file and the entry that is missing, extra or of another shape (it read "has shape None")."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import metaunsup
from helpers import tiny_config, tiny_rule_config
from metaunsup import checkpointing, local_rule, train
from metaunsup.rules import learned
from metaunsup.rules.compact import CompactRule
from metaunsup.training import workdir as workdir_lib, workdir_lock
from metaunsup.training.state import warm_start_theta

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# (a) A refused run writes nothing.


def _compact_config(init_rule: str):
  c = tiny_config(steps=1, estimator="es", es_pairs=1, init_rule=init_rule)
  c.rule = dict(kind="compact", terms=("oja", "krotov_hopfield"))
  return c


class _Started(Exception):
  """Raised by the first meta-step: the run got past every check and wrote its config."""


@pytest.mark.parametrize("lr", ["nan", "-1"])
def test_refused_warm_start_writes_nothing_and_the_corrected_run_starts(tmp_path, monkeypatch, lr):
  new, existing = tmp_path / "new" / "run", tmp_path / "existing"
  existing.mkdir()
  for workdir in (new, existing):
    with pytest.raises(ValueError, match=rf"init_rule=.*lr out of range, got {lr}\b") as e:
      train.train_and_evaluate(_compact_config(f"zoo:krotov_hopfield:lr={lr}"), workdir)
    assert "\n" not in str(e.value)
  assert not (tmp_path / "new").exists() and list(existing.iterdir()) == []

  def started(*args, **kwargs):
    raise _Started

  monkeypatch.setattr(train, "meta_step", started)  # stop at the first step: compiles nothing
  good = "zoo:krotov_hopfield:lr=0.0067"
  with pytest.raises(_Started):
    train.train_and_evaluate(_compact_config(good), existing)
  assert json.loads((existing / "config.json").read_text())["meta"]["init_rule"] == good
  assert not (existing / workdir_lock.LOCK_FILE).exists()  # released, and removed


def test_refusal_after_the_folder_is_claimed_removes_the_folder_it_created(tmp_path):
  """The task family refuses held-out data after the workdir is created and locked (and
  before config.json): the new folders go again; an existing one is left as it was."""
  c = tiny_config(steps=1)
  c.family.held_out = ("digits",)
  (tmp_path / "existing").mkdir()
  (tmp_path / "existing" / "notes.txt").write_text("mine")
  for workdir in (tmp_path / "a" / "b", tmp_path / "existing"):
    with pytest.raises(ValueError, match="held out"):
      train.train_and_evaluate(c, workdir)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
  assert [p.name for p in (tmp_path / "existing").iterdir()] == ["notes.txt"]


def _cli_error(cwd, *args) -> str:
  """`python -m metaunsup.train ARGS` in cwd, which must fail without a traceback: its last
  line of stderr."""
  out = subprocess.run(
    [sys.executable, "-m", "metaunsup.train", *args],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=120,
    env=ENV,
  )
  assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
  return out.stderr.strip().splitlines()[-1]


def test_cli_refuses_a_warm_start_typed_wrong_in_one_line_and_creates_no_workdir(tmp_path):
  """The command of the report, on the packaged config."""
  last = _cli_error(
    tmp_path,
    "--config=compact",
    f"--workdir={tmp_path / 'w'}",
    "--config.meta.init_rule=zoo:krotov_hopfield:lr=nan",
  )
  assert last.startswith("error: config.meta.init_rule='zoo:krotov_hopfield:lr=nan'"), last
  assert "lr out of range" in last
  assert not (tmp_path / "w").exists()


# (b) One run per workdir.


def test_a_second_run_on_a_locked_workdir_refuses_naming_the_holder(tmp_path):
  with workdir_lock.claim(tmp_path):
    holder = json.loads((tmp_path / workdir_lock.LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid()
    with pytest.raises(workdir_lock.WorkdirInUseError, match=f"pid {os.getpid()} on ") as e:
      train.train_and_evaluate(tiny_config(steps=1), tmp_path)
    assert "\n" not in str(e.value) and "new --workdir" in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == [workdir_lock.LOCK_FILE]  # no config.json
  assert not any(tmp_path.iterdir())  # released: the lock file goes with the lock


def test_cli_refusal_of_a_workdir_in_use_is_one_line(tmp_path):
  with workdir_lock.claim(tmp_path / "w"):
    last = _cli_error(tmp_path, "--config=smoke", "--workdir=w")
  assert last.startswith("error: w is in use by another run") and f"pid {os.getpid()}" in last


# A process that locks a workdir per line of its stdin (a path), says "won <pid>" or
# "refused <message>", and as winner appends ROWS metrics rows (slowly, as a run does) and
# holds the lock until its next line. Only the standard library and the lock module: fast.
WORKER = """
import json, pathlib, sys, time
from metaunsup.training import workdir_lock
for line in sys.stdin:
  workdir = pathlib.Path(line.strip())
  try:
    with workdir_lock.claim(workdir):
      print("won", flush=True)
      with open(workdir / "metrics.jsonl", "a") as log:
        for i in range(int(sys.argv[1])):
          log.write(json.dumps({"pid": __import__("os").getpid(), "step": i}) + "\\n")
          log.flush()
          time.sleep(0.002)
      print("wrote", flush=True)
      sys.stdin.readline()  # hold the lock until told
  except workdir_lock.WorkdirInUseError as e:
    print("refused", e, flush=True)
"""


def _workers(n: int, rows: int) -> list[subprocess.Popen]:
  return [
    subprocess.Popen(
      [sys.executable, "-c", WORKER, str(rows)],
      stdin=subprocess.PIPE,
      stdout=subprocess.PIPE,
      text=True,
      env=ENV,
    )
    for _ in range(n)
  ]


def test_two_runs_started_together_on_one_workdir_exactly_one_wins(tmp_path):
  """Two processes, five rounds: each round both try one new workdir at once; exactly one
  locks it and writes its rows, the other refuses naming the winner's pid, and the log
  holds the winner's rows alone, in order."""
  procs = _workers(2, rows=20)
  try:
    for r in range(5):
      workdir = tmp_path / f"run{r}"
      for p in procs:
        p.stdin.write(f"{workdir}\n")
        p.stdin.flush()
      answers = [p.stdout.readline().strip() for p in procs]
      assert sorted(a.split()[0] for a in answers) == ["refused", "won"], answers
      winner = procs[[a.split()[0] for a in answers].index("won")]
      assert winner.stdout.readline().strip() == "wrote"
      refusal = next(a for a in answers if a.startswith("refused"))
      assert f"pid {winner.pid} on " in refusal and "\n" not in refusal, refusal
      rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
      assert [(x["pid"], x["step"]) for x in rows] == [(winner.pid, i) for i in range(20)]
      winner.stdin.write("\n")  # release
      winner.stdin.flush()
  finally:
    for p in procs:
      p.stdin.close()
      p.wait(timeout=30)
  assert all(p.returncode == 0 for p in procs)
  assert not list(tmp_path.glob(f"*/{workdir_lock.LOCK_FILE}"))


@pytest.mark.kill
def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path):
  (p,) = _workers(1, rows=1)
  p.stdin.write(f"{tmp_path}\n")
  p.stdin.flush()
  assert p.stdout.readline().strip() == "won" and p.stdout.readline().strip() == "wrote"
  with pytest.raises(workdir_lock.WorkdirInUseError, match=f"pid {p.pid} on "):
    workdir_lock.acquire(tmp_path)
  os.kill(p.pid, signal.SIGKILL)
  p.wait(timeout=30)
  assert (tmp_path / workdir_lock.LOCK_FILE).exists()  # left behind, but not locked
  t0 = time.time()
  with workdir_lock.claim(tmp_path):
    assert json.loads((tmp_path / workdir_lock.LOCK_FILE).read_text())["pid"] == os.getpid()
  assert time.time() - t0 < 5 and not (tmp_path / workdir_lock.LOCK_FILE).exists()


# (c) Every error reading a rule file names the file and the entry.


def _compact_file(path: pathlib.Path, edit_theta=None, **stored) -> pathlib.Path:
  cfg = CompactRule(terms=("oja", "krotov_hopfield"))
  theta = jax.tree_util.tree_map(np.asarray, cfg.init_theta(jax.random.PRNGKey(0)))
  theta = edit_theta(theta) if edit_theta else theta
  checkpointing.save_rule_file(path, theta, {**local_rule.to_stored(cfg), **stored})
  return path


@pytest.mark.parametrize(
  "edit,stored,expected",
  [
    (None, {"kind": "no_such_rule"}, r"unknown rule kind 'no_such_rule'; registered: .*compact"),
    (
      lambda t: {k: v for k, v in t.items() if k != "mix"},
      {},
      r"theta\['mix'\] is missing \(the compact rule's config needs shape \(2, 2\)\)",
    ),
    (
      lambda t: {**t, "gain": np.ones(3)},
      {},
      r"theta\['gain'\] \(shape \(3,\)\) is extra: the compact rule's config has no such",
    ),
    (
      lambda t: {**t, "mix": np.ones((3, 2))},
      {},
      r"theta\['mix'\] has shape \(3, 2\), the compact rule's config needs \(2, 2\)",
    ),
    (
      lambda t: {**t, "params": np.ones(())},
      {},
      r"theta\['params'\]\['krotov_hopfield_delta'\] is missing",
    ),
    (None, {"bogus": 1}, r"unknown compact rule config fields \['bogus'\]"),
    (None, {"init_lr": -1.0}, r"init_lr must be > 0"),
  ],
  ids=["kind", "missing", "extra", "shape", "array_for_group", "field", "value"],
)
def test_every_error_reading_a_rule_file_is_one_line_naming_the_file(
  tmp_path, edit, stored, expected
):
  path = _compact_file(tmp_path / "rule.msgpack", edit, **stored)
  with pytest.raises(ValueError, match=expected) as e:
    metaunsup.load_rule(path)
  msg = str(e.value)
  assert msg.startswith(f"{path}: ") and "\n" not in msg and "None" not in msg, msg
  # The warm start reads it the same way.
  with pytest.raises(ValueError, match=expected):
    warm_start_theta(path, CompactRule(terms=("oja", "krotov_hopfield")))


def test_learned_rule_file_missing_an_entry_names_it_not_shape_none(tmp_path):
  cfg = tiny_rule_config()
  theta = {k: v for k, v in cfg.init_theta(jax.random.PRNGKey(0)).items() if k != "mix"}
  path = tmp_path / "rule.msgpack"
  checkpointing.save_rule_file(path, theta, local_rule.to_stored(cfg))
  with pytest.raises(ValueError, match=r"theta\['mix'\] is missing \(the learned rule's") as e:
    metaunsup.load_rule(path)
  assert str(e.value).startswith(f"{path}: ") and "None" not in str(e.value)
  with pytest.raises(ValueError, match=r"theta\['mix'\] is missing"):
    learned.check_theta(theta, cfg)


def test_warm_start_from_a_rule_of_other_shapes_names_the_entry_and_both_shapes(tmp_path):
  path = _compact_file(tmp_path / "rule.msgpack")
  with pytest.raises(ValueError) as e:
    warm_start_theta(path, CompactRule(terms=("oja", "krotov_hopfield", "bcm")))
  msg = str(e.value)
  assert msg.startswith(f"config.meta.init_rule={path}: ") and "\n" not in msg
  assert "theta['mix'] has shape (2, 2), config.rule needs (3, 2)" in msg
  assert "'terms': ['oja', 'krotov_hopfield']" in msg  # the rule's own settings


def test_workdir_config_json_of_an_unknown_kind_or_shape_names_the_file(tmp_path):
  """load_rule of a run without its rule file reads config.json; resuming compares it."""
  cfg = tiny_rule_config()
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  checkpointing.atomic_write_json(tmp_path / "config.json", {"rule": {"kind": "no_such_rule"}})
  checkpointing.save_state(checkpointing.manager(tmp_path), 1, {"theta": theta})
  with pytest.raises(ValueError, match="unknown rule kind 'no_such_rule'") as e:
    metaunsup.load_rule(tmp_path)
  assert str(e.value).startswith(f"{tmp_path / 'config.json'}: ")
  (tmp_path / "config.json").write_text('{"rule": [1, 2], "meta": {}}')
  with pytest.raises(ValueError, match="config.json: damaged") as e:
    workdir_lib.check_workdir_config(tmp_path, tiny_config(), write=False)
  assert "\n" not in str(e.value)
