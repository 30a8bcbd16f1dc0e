import json

import jax
import numpy as np
import pytest

import metaunsup
from helpers import mechanism_rule
from metaunsup.configs import eval_quick
from metaunsup.evaluation import pipeline, report, sweeps


@pytest.fixture(scope="module")
def tiny_rule():
  """The mechanism rule, untrained: the pipeline runs every rule through the same
  `apply_rule`, and this one's programs (one per sweep point) compile several times faster
  than the learned rule's."""
  cfg = mechanism_rule()
  return metaunsup.Rule(theta=cfg.init_theta(jax.random.PRNGKey(0)), config=cfg)


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
    pipeline.run(tmp_path / "rule.msgpack", config, out, log=stop_after_first_piece, reverse=True)
  # The plain command resumes: the finished piece is read back, nothing else is.
  logs = []
  results = pipeline.run(tmp_path / "rule.msgpack", config, out, log=logs.append)
  last_kind, last_value = sweeps.sweep_architectures(config)[-1][:2]
  assert [line.split(":")[0].strip() for line in logs if "done before" in line] == [
    f"sweep-{last_kind}={last_value}"
  ]
  for name in (
    "results.json",
    "results.md",
    "curves.png",
    "shots.png",
    "sweeps.png",
    "receptive_fields.png",
    "first_layer.npz",
  ):
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
  assert len(sweep_points) == len(sweeps.sweep_architectures(config))
  md = (out / "results.md").read_text()
  assert "## Headline" in md and "rule vs best other" in md
  # A raw-pixel probe on 10 labels of digits is far above chance; the pipeline's readout
  # must see that (0.1 is chance).
  raw = report.per_seed(saved, "digits@8", "raw", 10, "ridge")
  assert np.mean(list(raw.values())) > 0.6
  # Rerunning a finished evaluation computes nothing and reports the same numbers.
  logs = []
  again = pipeline.run(tmp_path / "rule.msgpack", config, out, log=logs.append)
  units = len(config.datasets) * config.num_seeds + len(sweep_points)
  assert sum("done before" in line for line in logs) == units
  assert again["records"] == results["records"] and again["seconds"] == results["seconds"]


def test_total_seconds_do_not_depend_on_the_order_of_the_pieces():
  # A plain sum of these gives 57.1 one way and 57.2 the other (a rerun reads its pieces
  # back in another order: the flake this replaces).
  times = [4.77, 19.35, 16.06, 8.96, 1.61, 6.4]
  assert round(sum(times), 1) != round(sum(reversed(times)), 1)
  assert pipeline.total_seconds(times) == pipeline.total_seconds(reversed(times)) == 57.1
