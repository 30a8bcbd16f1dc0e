"""Hard kills (SIGKILL: no handler runs) of a real meta-training process during a checkpoint
save and at a random moment, and of a real evaluation process: the next run resumes and ends
with the same theta (the same results) as an uninterrupted run, losing at most one checkpoint
interval. Real processes, tiny configs (metaunsup/configs/smoke.py shrunk further), a
bounded number of kills.

The uninterrupted reference runs in this process: the CLI's own entry point
(`train.train_and_evaluate`, `pipeline.run`) on the config the CLI builds from the same
flags. It compiles every program once and writes it to the compilation cache, which the
killed processes inherit (JAX_COMPILATION_CACHE_DIR): they load the programs instead of
compiling them again (on 2 cores, their first step comes after seconds instead of half a
minute). The last resume runs in this process too, on the same entry point."""

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
from absl import flags
from ml_collections import config_flags

import metaunsup
from helpers import tiny_rule_config
from metaunsup import checkpointing, train
from metaunsup.rules import learned
from metaunsup.evaluation import pipeline

ROOT = pathlib.Path(__file__).parents[1]
STEPS, EVERY = 8, 2
# The mechanism rule (kill_config.py) and a one-layer evaluation network: what is under test
# (saves, kills, resumes) does not depend on either, and the programs compile faster.
FLAGS = [
  f"--config={ROOT / 'tests/kill_config.py'}",
  f"--config.meta.steps={STEPS}",
  f"--config.meta.checkpoint_every={EVERY}",
  "--config.family.datasets=('digits',)",
  "--config.family.num_buckets=1",
  "--config.eval.num_seeds=1",
  "--config.eval.inner_steps=2",
  "--config.eval.query_size=50",
  "--config.eval.widths=(16,)",
]


@pytest.fixture
def cache_every_program():
  """JAX writes a program to the persistent compilation cache only when it took at least
  1 s to compile: most of these took less, and a subprocess would compile them again."""
  before = jax.config.jax_persistent_cache_min_compile_time_secs
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  yield
  jax.config.update("jax_persistent_cache_min_compile_time_secs", before)


def _cli_config(argv: list[str]):
  """The config the CLI builds from these flags (ml_collections' config flag, reading its
  overrides from argv instead of sys.argv)."""
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", flag_values=values, sys_argv=["cli", *argv])
  values(["cli", *argv])
  return values.config


def _env(tmp_path: pathlib.Path) -> dict:
  """The subprocesses' environment: this process's (XLA_FLAGS included: the same compiled
  programs) and its compilation cache, or a private one when it has none (the second
  process then reuses the first one's slowest programs)."""
  cache = jax.config.jax_compilation_cache_dir or str(tmp_path / "compilation-cache")
  return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_COMPILATION_CACHE_DIR": cache}


def _start(workdir: pathlib.Path, env: dict) -> subprocess.Popen:
  return subprocess.Popen(
    [sys.executable, "-m", "metaunsup.train", *FLAGS, f"--workdir={workdir}"],
    cwd=ROOT,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
    env=env,
  )


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
@pytest.mark.kill
def test_kill_9_during_training_and_saves_resumes_to_the_same_theta(tmp_path, cache_every_program):
  config = _cli_config(FLAGS)
  train.train_and_evaluate(config, tmp_path / "reference")
  env, work = _env(tmp_path), tmp_path / "killed"
  rng = np.random.default_rng(int(time.time()))
  # Trial 1: mid-save, a checkpoint being written while an older one exists. Trial 2: the
  # process resuming from that, at a random moment after its first step (a row above those
  # trial 1 left: it rewrites the old log on resuming).
  kills, rows = 0, 0
  for trial in ("mid-save", "random"):
    if trial == "mid-save":
      ready = lambda: _saving(work) and _rows(work) >= 3  # noqa: E731
    elif rows + 1 < STEPS:
      ready = (lambda n: lambda: _rows(work) >= n)(int(rng.integers(rows + 1, STEPS)))
    else:
      break  # trial 1 was caught at the last save: no step left to kill in
    p = _start(work, env)
    if not _kill_when(p, ready):
      _finish(p)
      break
    kills += 1
    rows = _rows(work)
    kept = max(checkpointing.manager(work).all_steps(), default=0)
    assert kept >= rows - EVERY, (rows, kept)  # at most one interval lost
  assert kills >= 1  # the mid-save kill, at least
  # The last resume runs here, the CLI's entry point on the same config: trial 2 was the
  # resume after a SIGKILL in a fresh process.
  train.train_and_evaluate(config, work)
  a, b = (
    checkpointing.load_rule_file(d / checkpointing.RULE_FILE)[0]
    for d in (tmp_path / "reference", work)
  )
  # Exact: the same program (the same jitted meta-step and XLA_FLAGS, or the very compiled
  # one from the cache) on the same inputs (theta, optimiser and tasks restored bit for bit).
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)
  rows = [json.loads(l) for l in (work / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == list(range(STEPS))


EVAL_FLAGS = [
  f"--config={ROOT / 'metaunsup/configs/eval_quick.py'}",
  "--config.datasets=('digits@8',)",
  "--config.methods=('rule', 'random_init', 'raw')",
  "--config.checkpoints=(0, 5)",
  "--config.shots=(1, 5)",
  "--config.heads=('ridge',)",
  "--config.num_seeds=3",
  "--config.widths=(16, 8)",
  "--config.query_size=100",
  "--config.reference_batch=64",
  "--config.sweep.enabled=False",
]


def _start_eval(rule_path, out: pathlib.Path, env: dict) -> subprocess.Popen:
  return subprocess.Popen(
    [
      sys.executable,
      "-m",
      "metaunsup.evaluation",
      *EVAL_FLAGS,
      f"--rule={rule_path}",
      f"--out={out}",
    ],
    cwd=ROOT,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    text=True,
    env=env,
  )


@pytest.mark.slow
@pytest.mark.kill
def test_kill_9_during_evaluation_resumes_to_the_same_results(tmp_path, cache_every_program):
  cfg = tiny_rule_config()
  path = tmp_path / "rule.msgpack"
  metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg).save(path)
  config = _cli_config(EVAL_FLAGS)
  pipeline.run(path, config, tmp_path / "reference", log=lambda *_: None)
  out = tmp_path / "killed"

  def pieces() -> int:
    return len(list((out / "partial").glob("*/*.json"))) if (out / "partial").exists() else 0

  p = _start_eval(path, out, _env(tmp_path))
  n = int(np.random.default_rng(int(time.time())).integers(1, 3))
  assert _kill_when(p, lambda: pieces() >= n)
  assert pieces() >= n  # the finished pieces survive the kill
  # The resume runs here: the CLI's entry point on the same config.
  pipeline.run(path, config, out, log=lambda *_: None)
  a, b = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "reference", out))
  assert a["records"] == b["records"] and len(a["records"]) > 0
