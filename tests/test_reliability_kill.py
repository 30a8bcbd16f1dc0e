"""Hard kills (SIGKILL: no handler runs) of a real meta-training process at random moments
and during a checkpoint save: the next run resumes and ends with the same theta as an
uninterrupted run, losing at most one checkpoint interval. Real processes, tiny config
(experiments/configs/smoke.py shrunk further), a bounded number of trials."""
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
from helpers import tiny_rule_config
from metaunsup import checkpointing, rule

ROOT = pathlib.Path(__file__).parents[1]
STEPS, EVERY = 8, 2
FLAGS = ["--config=experiments/configs/smoke.py", f"--config.meta.steps={STEPS}",
         f"--config.meta.checkpoint_every={EVERY}", "--config.family.datasets=('digits',)",
         "--config.family.num_buckets=1", "--config.eval.num_seeds=1",
         "--config.eval.inner_steps=2", "--config.eval.query_size=50"]


def _start(workdir: pathlib.Path) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "metaunsup.train", *FLAGS,
                           f"--workdir={workdir}"], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _finish(p: subprocess.Popen) -> None:
  _, err = p.communicate(timeout=300)
  assert p.returncode == 0, err[-3000:]


def _rows(workdir: pathlib.Path) -> int:
  path = workdir / "metrics.jsonl"
  return path.read_text().count("\n") if path.exists() else 0


def _kill_when(p: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
  """SIGKILL p as soon as ready() holds; False if p ended first."""
  t0 = time.time()
  while p.poll() is None and time.time() - t0 < timeout:
    if ready():
      os.kill(p.pid, signal.SIGKILL)
      p.wait()
      return True
    time.sleep(0.002)
  return False


def _saving(workdir: pathlib.Path) -> bool:
  """orbax writes a checkpoint into a temporary folder before renaming it."""
  folder = workdir / "checkpoints"
  return folder.exists() and any("tmp" in f.name for f in folder.iterdir())


@pytest.mark.slow
def test_kill_9_during_training_and_saves_resumes_to_the_same_theta(tmp_path):
  reference = _start(tmp_path / "reference")
  rng = np.random.default_rng(int(time.time()))
  work = tmp_path / "killed"
  # Trial 1: mid-save; trial 2: at a random moment after the first step.
  triggers = [lambda: _saving(work) and _rows(work) >= 3,
              (lambda n: lambda: _rows(work) >= n)(int(rng.integers(1, STEPS)))]
  kills = 0
  for ready in triggers:
    p = _start(work)
    if not _kill_when(p, ready):
      _finish(p)
      break
    kills += 1
    rows = _rows(work)
    kept = max(checkpointing.manager(work).all_steps(), default=0)
    assert kept >= rows - EVERY, (rows, kept)  # at most one interval lost
  assert kills >= 1  # the mid-save kill, at least
  _finish(_start(work))
  _finish(reference)
  a, b = (checkpointing.load_rule_file(d / checkpointing.RULE_FILE)[0]
          for d in (tmp_path / "reference", work))
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  rows = [json.loads(l) for l in (work / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == list(range(STEPS))


EVAL_FLAGS = ["--config=experiments/configs/eval_quick.py", "--config.datasets=('digits@8',)",
              "--config.methods=('rule', 'random_init', 'raw')", "--config.checkpoints=(0, 5)",
              "--config.shots=(1, 5)", "--config.heads=('ridge',)", "--config.num_seeds=3",
              "--config.widths=(16, 8)", "--config.query_size=100",
              "--config.reference_batch=64", "--config.sweep.enabled=False"]


def _start_eval(rule_path, out: pathlib.Path) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "metaunsup.evaluation", *EVAL_FLAGS,
                           f"--rule={rule_path}", f"--out={out}"], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
def test_kill_9_during_evaluation_resumes_to_the_same_results(tmp_path):
  cfg = tiny_rule_config()
  path = tmp_path / "rule.msgpack"
  metaunsup.Rule(theta=rule.init_theta(jax.random.PRNGKey(0), cfg), config=cfg).save(path)
  reference = _start_eval(path, tmp_path / "reference")
  out = tmp_path / "killed"

  def pieces() -> int:
    return len(list((out / "partial").glob("*/*.json"))) if (out / "partial").exists() else 0

  p = _start_eval(path, out)
  n = int(np.random.default_rng(int(time.time())).integers(1, 3))
  assert _kill_when(p, lambda: pieces() >= n)
  assert pieces() >= n  # the finished pieces survive the kill
  _finish(_start_eval(path, out))
  _finish(reference)
  a, b = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "reference", out))
  assert a["records"] == b["records"] and len(a["records"]) > 0
