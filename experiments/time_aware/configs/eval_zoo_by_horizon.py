"""The hand-designed rules at their best per horizon, held out (issue 37, item 5): each rule at
10^2, 10^3 and 10^4 inner steps with the variant (constant rate, or its published schedule
or state) and lr that `experiments/time_aware/zoo_sweep.py` chose on meta-training data for
that horizon (`results/zoo_sweep.json`), as a run of its own from the shared init per
horizon (`config.local_rules_by_steps`). Protocol as eval_time_aware.py (same seeds, init,
labels and query), so the paired table merges them by seed; sized for a 2-core CPU: the
settings of issue 37's second target (MNIST and Fashion-MNIST at 14x14, 28x28 and permuted
28x28) and the ridge head only. The config's argument names the rules (default: every rule
the sweep ran).

  python -m metaunsup.evaluation --rule=pretrained --out=runs/eval_zoo_by_horizon \
      --config=experiments/time_aware/configs/eval_zoo_by_horizon.py:$RULES

with RULES=krotov_hopfield,softhebb,competitive,soft_competitive for the committed run.
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
  c.datasets = tuple(
    f"{d}@{s}" for s in ("14", "28", "28+perm") for d in ("fashion_mnist", "mnist")
  )
  c.heads = ("ridge",)
  c.local_rules_by_steps = {k: best_fields(result, k) for k in kinds}
  return c
