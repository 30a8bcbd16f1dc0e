"""Files the project writes and reads back: strict JSON (no bare NaN or Infinity) that reads
back as NaN, a damaged rule file in a workdir falling back to the run's checkpoint, and
every file of the CLIs readable like any other (the umask's mode)."""

import dataclasses
import json
import math
import os
import pathlib
import stat

import jax
import numpy as np
import pytest

import metaunsup
from helpers import tiny_rule_config
from metaunsup import checkpointing, file_faults
from metaunsup.rules import learned
from metaunsup.evaluation.store import PartialResults


def _strict(path: pathlib.Path):
  def reject(c):
    raise ValueError(f"bare {c} in {path}")

  return json.loads(path.read_text(), parse_constant=reject)


def test_json_files_are_strict_and_read_nan_back(tmp_path):
  """On main, atomic_write_json (summary.json, results.json, config.json, evaluation
  pieces) wrote bare NaN / Infinity."""
  summary = {
    "fewshot_acc_rule": float("nan"),
    "meta_loss_last": np.float32("inf"),
    "per_seed": [0.5, float("-inf")],
    "theta": np.array([1.0, np.nan]),
    "config": {"report_step": None, "lr": 0.1},
  }
  checkpointing.atomic_write_json(tmp_path / "summary.json", summary)
  on_disk = _strict(tmp_path / "summary.json")
  assert on_disk["fewshot_acc_rule"] is None and on_disk["per_seed"] == [0.5, None]
  back = checkpointing.read_json(tmp_path / "summary.json", "fix")
  assert math.isnan(back["fewshot_acc_rule"]) and math.isnan(back["meta_loss_last"])
  assert back["per_seed"][0] == 0.5 and math.isnan(back["per_seed"][1])
  assert back["config"] == {"report_step": None, "lr": 0.1}  # a config's None stays None
  (tmp_path / "summary.json").write_text('{"a": ')
  with pytest.raises(file_faults.DamagedFileError, match="summary.json: damaged") as e:
    checkpointing.read_json(tmp_path / "summary.json", "rerun it")
  assert "\n" not in str(e.value) and str(e.value).endswith("rerun it")


def test_evaluation_piece_with_a_diverged_cell_round_trips(tmp_path):
  store = PartialResults(tmp_path / "partial" / "abc")
  record = {
    "dataset": "digits",
    "method": "rule",
    "step": 10,
    "seed": 0,
    "shots": 1,
    "head": "ridge",
    "accuracy": float("nan"),
  }
  store.save(
    "digits-seed0", {"records": [record], "vae_elbo": [{"elbo": -np.inf}]}, {"w": np.ones(2)}
  )
  _strict(store.folder / "digits-seed0.json")
  result, arrays = store.load("digits-seed0")
  assert math.isnan(result["records"][0]["accuracy"]) and result["records"][0]["seed"] == 0
  np.testing.assert_array_equal(arrays["w"], np.ones(2))


def test_report_reads_a_summary_with_a_diverged_accuracy(tmp_path):
  from metaunsup.evaluation import report
  from metaunsup.training import workdir as workdir_lib

  acc = {
    "fewshot_acc_rule": float("nan"),
    "fewshot_acc_rule_sem": float("nan"),
    "fewshot_acc_rule_per_seed": [float("nan"), 0.5],
    "fewshot_acc_random_init": 0.4,
    "fewshot_acc_random_init_sem": 0.01,
    "fewshot_acc_random_init_per_seed": [0.39, 0.41],
  }
  summary = {
    "seed": 0,
    "meta_steps": 2,
    "eval_seeds": [1, 2],
    "eval": {"digits": acc},
    "config": {
      "eval": {
        "widths": [4],
        "activation": "relu",
        "inner_steps": 2,
        "image_size": 8,
        "query_size": 10,
      },
      "family": {"datasets": ["digits"], "held_out": ["mnist"]},
      "heads": {"shots": 1},
    },
    "meta_loss_first": 1.0,
    "meta_loss_last": float("nan"),
    "skipped_meta_gradients": 1,
    "data_seconds_median": 0.1,
    "step_seconds_median": 1.0,
    "data_to_step_ratio": 0.1,
  }
  checkpointing.atomic_write_json(tmp_path / "summary.json", summary)
  _strict(tmp_path / "summary.json")
  assert math.isnan(workdir_lib.read_summary(tmp_path)["eval"]["digits"]["fewshot_acc_rule"])
  assert "| ridge | nan ± nan | 0.400 ± 0.010 |" in report.run_summary(tmp_path)


def _workdir_with_checkpoint(workdir: pathlib.Path) -> metaunsup.Rule:
  """A workdir as meta-training leaves it: config.json, a checkpoint, rule.msgpack."""
  cfg = tiny_rule_config()
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  checkpointing.atomic_write_json(workdir / "config.json", {"rule": dataclasses.asdict(cfg)})
  checkpointing.save_state(checkpointing.manager(workdir), 3, {"theta": theta})
  saved = metaunsup.Rule(theta=theta, config=cfg, meta={"seed": 0})
  saved.save(workdir / checkpointing.RULE_FILE)
  return saved


def test_damaged_rule_file_in_a_workdir_falls_back_to_the_checkpoint(tmp_path, capsys):
  """On main, a truncated WORKDIR/rule.msgpack was an error although the run's checkpoint
  holds the same theta."""
  saved = _workdir_with_checkpoint(tmp_path)
  path = tmp_path / checkpointing.RULE_FILE
  path.write_bytes(path.read_bytes()[:40])
  back = metaunsup.load_rule(tmp_path)
  warning = capsys.readouterr().err.strip()
  assert "\n" not in warning and str(path) in warning and "checkpoint" in warning
  assert back.meta == {"checkpoint_step": 3} and back.config == saved.config
  for a, b in zip(jax.tree_util.tree_leaves(saved.theta), jax.tree_util.tree_leaves(back.theta)):
    np.testing.assert_array_equal(a, b)
  assert metaunsup.load_rule(path).meta == {"checkpoint_step": 3}  # the file, named directly
  # Without a checkpoint beside it, a damaged rule file stays a one-line error.
  (tmp_path / "alone").mkdir()
  (tmp_path / "alone" / "rule.msgpack").write_bytes(path.read_bytes())
  with pytest.raises(file_faults.DamagedFileError, match="rule.msgpack: damaged") as e:
    metaunsup.load_rule(tmp_path / "alone")
  assert "\n" not in str(e.value) and "make meta-train" in str(e.value)


@pytest.mark.parametrize("content", ['{"rule": {"chan', '[1, 2]', ""])
def test_damaged_config_json_of_a_workdir_is_one_line(tmp_path, content):
  """On main: json's JSONDecodeError / KeyError / TypeError from inside api.py."""
  _workdir_with_checkpoint(tmp_path)
  (tmp_path / checkpointing.RULE_FILE).unlink()
  (tmp_path / "config.json").write_text(content)
  with pytest.raises(file_faults.DamagedFileError, match="config.json: damaged") as e:
    metaunsup.load_rule(tmp_path)
  assert "\n" not in str(e.value) and "rewrite it" in str(e.value)


def test_metrics_line_of_valid_json_that_is_not_a_row_is_dropped(tmp_path, capsys):
  """A damaged line that still parses ("5", "[1]") was an AttributeError from .items()."""
  from metaunsup.training import workdir as workdir_lib

  path = tmp_path / "metrics.jsonl"
  path.write_text(workdir_lib.metrics_line({"step": 0, "meta_loss": 1.0}) + "5\n[1]\nnull\n")
  assert [r["step"] for r in workdir_lib.read_metrics(path, below_step=10)] == [0]
  assert "dropped 2 damaged line(s)" in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, "", '{"seed": 0, "ev'])
@pytest.mark.slow
def test_report_on_a_missing_or_damaged_summary_is_one_line(tmp_path, content):
  import os
  import subprocess
  import sys

  if content is not None:
    (tmp_path / "summary.json").write_text(content)
  root = pathlib.Path(__file__).parents[1]
  out = subprocess.run(
    [sys.executable, "-m", "experiments.shared.run_summary", str(tmp_path)],
    cwd=root,
    capture_output=True,
    text=True,
    timeout=120,
    env={**os.environ, "PYTHONPATH": str(root)},
  )
  assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
  last = out.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and "summary.json" in last and "make meta-train" in last


def test_checkpoint_that_does_not_match_config_json_is_one_line(tmp_path):
  """An edited config.json (another rule shape) loaded the checkpoint's theta with the new
  config, a mismatch found only deep inside the first unroll."""
  _workdir_with_checkpoint(tmp_path)
  (tmp_path / checkpointing.RULE_FILE).unlink()
  saved = json.loads((tmp_path / "config.json").read_text())
  saved["rule"]["channels"] += 2
  (tmp_path / "config.json").write_text(json.dumps(saved))
  with pytest.raises(ValueError) as e:
    metaunsup.load_rule(tmp_path)
  msg = str(e.value)
  assert "\n" not in msg and "does not match the rule config" in msg and "config.json" in msg


@pytest.mark.parametrize("content", ["[]", "{}", "null", "0"])
def test_evaluation_piece_that_parses_but_is_not_a_result_is_computed_again(tmp_path, content):
  """Was returned as the piece's result, then a KeyError/TypeError in evaluate."""
  store = PartialResults(tmp_path / "partial" / "abc")
  store.save("digits-seed0", {"records": []}, {})
  (store.folder / "digits-seed0.json").write_text(content)
  logged = []
  assert store.load("digits-seed0", log=logged.append) is None
  assert len(logged) == 1 and "digits-seed0.json: damaged" in logged[0]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_have_the_umask_mode_like_any_new_file(tmp_path, umask, mode):
  """results.json, rule.msgpack, metrics and summaries were written 0600 (mkstemp's mode),
  unreadable by collaborators, while the figures beside them were 0644."""
  old = os.umask(umask)
  try:
    checkpointing.atomic_write_bytes(tmp_path / "a.bin", b"x")
    checkpointing.atomic_write_json(tmp_path / "b.json", {"x": 1})
  finally:
    os.umask(old)
  for name in ("a.bin", "b.json"):
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


@pytest.mark.slow
def test_clis_run_anywhere_with_packaged_configs_and_write_files_of_the_umask_mode(tmp_path):
  """Both CLIs from a folder outside the repository with configs named as the package ships
  them (`--config=smoke`, `--config=eval_quick`, shrunk by overrides): the configs were
  files under experiments/ that the evaluation's imported `experiments.*` from. Under umask
  022 every file they write is 0644 and every folder 0755: results.json, results.md,
  rule.msgpack, config.json, metrics.jsonl, summary.json and first_layer.npz were 0600
  (mkstemp's mode) while the figures beside them were 0644."""
  import subprocess
  import sys

  root = pathlib.Path(__file__).resolve().parents[1]
  here = tmp_path / "elsewhere"
  here.mkdir()
  assert not here.resolve().is_relative_to(root)
  commands = [
    [
      "metaunsup.train",
      "--config=smoke",
      "--workdir=w",
      "--config.meta.steps=1",
      "--config.family.num_buckets=1",
      "--config.eval.num_seeds=1",
      "--config.eval.inner_steps=2",
      # Shrunk further, as in test_reliability_kill.py (fewer and smaller programs to
      # compile): where the CLIs run and which files they write do not depend on the sizes.
      "--config.family.datasets=('digits',)",
      "--config.validation.every=0",
      "--config.rule.terms=('hebbian',)",
      "--config.eval.query_size=50",
      "--config.eval.widths=(16,)",
    ],
    [
      "metaunsup.evaluation",
      "--rule=pretrained",
      "--config=eval_quick",
      "--out=e",
      "--config.datasets=('digits@8',)",
      "--config.methods=('rule', 'random_init')",
      "--config.checkpoints=(0, 5)",
      "--config.shots=(1,)",
      "--config.heads=('ridge',)",
      "--config.num_seeds=1",
      "--config.widths=(16, 8)",
      "--config.query_size=100",
      "--config.reference_batch=64",
      "--config.sweep.enabled=False",
    ],
  ]
  old = os.umask(0o022)
  try:
    for command in commands:
      out = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(root)},
      )
      assert out.returncode == 0, out.stderr[-3000:]
  finally:
    os.umask(old)
  written = {str(p.relative_to(here)): stat.S_IMODE(p.stat().st_mode) for p in here.rglob("*")}
  assert {
    "w/rule.msgpack",
    "w/config.json",
    "w/metrics.jsonl",
    "w/summary.json",
    "w/curves.png",
    "e/results.json",
    "e/results.md",
    "e/first_layer.npz",
    "e/shots.png",
  } <= set(written)
  assert any(p.startswith("w/checkpoints/") for p in written)
  assert any(p.startswith("e/partial/") for p in written)
  wrong = {
    p: oct(mode) for p, mode in written.items() if mode != (0o755 if (here / p).is_dir() else 0o644)
  }
  assert not wrong, wrong
