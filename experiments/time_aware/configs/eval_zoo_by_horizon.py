"""The hand-designed rules at their best per horizon, held out (issue 37, item 5): each rule at
10^2, 10^3 and 10^4 inner steps with the variant (constant rate, or its published schedule
or state) and lr that `experiments/time_aware/zoo_sweep.py` chose on meta-training data for
that horizon (`results/zoo_sweep.json`), as a run of its own from the shared init per
horizon (`config.local_rules_by_steps`). Protocol and settings as eval_time_aware.py, so the
paired table merges them by seed. `RULES` (below) may hold fewer rules than the sweep did
when compute is short: the ones the sweep ranked best.

  make evaluate CONFIG=experiments/time_aware/configs/eval_zoo_by_horizon.py \
      OUT=runs/eval_zoo_by_horizon
"""

import json
import pathlib

from experiments.time_aware import zoo_sweep
from experiments.time_aware.configs import eval_time_aware

SWEEP = pathlib.Path(__file__).parents[1] / "results" / "zoo_sweep.json"
STEPS = (100, 1000, 10000)


def best_fields(result: dict, kind: str) -> dict[str, dict]:
  """{"STEPS": the fields of the better variant at its best lr} for every horizon swept."""
  out = {}
  for steps in STEPS:
    variant = zoo_sweep.best_variant(result, kind, steps)
    if variant is not None:
      out[str(steps)] = result["best"][f"{kind}/{variant}/{steps}"]["fields"]
  return out


def get_config(rules: str = ""):
  """`--config=...eval_zoo_by_horizon.py:krotov_hopfield,softhebb` limits the rules."""
  c = eval_time_aware.get_config()
  result = json.loads(SWEEP.read_text())
  swept = sorted({k.split("/")[0] for k in result["best"]})
  kinds = [k for k in rules.split(",") if k] or swept
  c.methods = ("random_init", *(f"local:{k}" for k in kinds))
  c.local_rules_by_steps = {k: best_fields(result, k) for k in kinds}
  return c
