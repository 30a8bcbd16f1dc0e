"""The hand-designed rules at their best per horizon (issue 37, item 2): each rule's lr chosen
on meta-training data separately at 10^2, 10^3 and 10^4 inner steps, with and without its
published schedule or state, so that at each horizon the zoo is compared at its best (the
sweep of experiments/zoo/ chose one lr for all three horizons, and a rate good for 10^4
steps is weak at 10^2).

Protocol: experiments/zoo/sweep.py's (Fashion-MNIST and alphabet train splits at 14x14, 80%
unlabeled, support and query from the other 20%, 10-shot ridge, 64-64-32 relu, batch 64,
seeds 0 and 1), with the mean over both data sets and both seeds *at one horizon* deciding.
Variants: "constant" (one rate, as before) and "published": Krotov-Hopfield, Sanger and
SoftHebb with a rate decaying linearly over the run (lr_schedule="linear", told each
horizon's length), online k-means (hard and soft) with a count per unit (counts=True), BCM
with its running threshold (threshold_rate=0.1). Grid: the rule's default times 1/9 .. 9 in
factors of 3, extended past an end up to twice, per horizon and variant. Oja's rule has no
schedule here (only its constant variant).

  python -m experiments.time_aware.zoo_sweep --out experiments/time_aware/results
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
from typing import Any

import numpy as np

import metaunsup
from experiments.zoo import sweep as zoo_sweep
from metaunsup import checkpointing, data, local_rule

PUBLISHED: dict[str, dict[str, Any]] = {
  "krotov_hopfield": {"lr_schedule": "linear"},
  "sanger": {"lr_schedule": "linear"},
  "softhebb": {"lr_schedule": "linear"},
  "competitive": {"counts": True},
  "soft_competitive": {"counts": True},
  "bcm": {"threshold_rate": 0.1},
}
KINDS = ("bcm", "competitive", "krotov_hopfield", "oja", "sanger", "soft_competitive", "softhebb")


def variants(kind: str) -> dict[str, dict[str, Any]]:
  """{variant name: the rule's fields beyond lr}."""
  out: dict[str, dict[str, Any]] = {"constant": {}}
  if kind in PUBLISHED:
    out["published"] = PUBLISHED[kind]
  return out


def score(kind: str, fields: dict, lr: float, steps: int, ds: data.Dataset, seed: int) -> float:
  """10-shot ridge accuracy on the validation split after `steps` inner steps (NaN where the
  features are not finite)."""
  rule = metaunsup.Rule(theta={}, config=local_rule.rule_class(kind)(lr=lr, **fields))
  return score_rule(rule, steps, ds, seed)


def score_rule(rule: metaunsup.Rule, steps: int, ds: data.Dataset, seed: int) -> float:
  """`score` for any rule (theta and config): its 10-shot ridge accuracy on the validation
  split after `steps` inner steps of the sweep's network, NaN where the features are not
  finite."""
  unlabeled, xs, ys, xq, yq = zoo_sweep.validation_split(ds, seed)
  model = metaunsup.apply_rule(
    rule, unlabeled, steps=steps, seed=seed, standardize=False, **zoo_sweep.NETWORK
  )
  fs, fq = model.features(xs), model.features(xq)
  if not (np.all(np.isfinite(fs)) and np.all(np.isfinite(fq))):
    return float("nan")
  return float(metaunsup.fewshot_accuracy(fs, ys, fq, yq, head="ridge"))


def sweep_one(kind: str, fields: dict, steps: int, sets: dict, log) -> tuple[list, float | None]:
  """The lr grid of one rule variant at one horizon, extended past a best end."""
  tried: dict[float, dict] = {}
  todo = zoo_sweep.grid(kind)
  while todo:
    for lr in todo:
      accs = {
        name: [score(kind, fields, lr, steps, ds, seed) for seed in zoo_sweep.SEEDS]
        for name, ds in sets.items()
      }
      flat = [a for v in accs.values() for a in v]
      mean = float(np.mean(flat)) if np.all(np.isfinite(flat)) else float("nan")
      tried[lr] = {
        "lr": lr,
        "mean": mean,
        "accuracy": {n: float(np.mean(v)) for n, v in accs.items()},
      }
      log(f"lr={lr:.4g}: {mean:.3f}")
    finite = {lr: r["mean"] for lr, r in tried.items() if np.isfinite(r["mean"])}
    best = max(finite, key=finite.get) if finite else None
    todo = []
    if best is not None and len(tried) < len(zoo_sweep.grid(kind)) + zoo_sweep.EXTEND:
      for edge, step in ((min(tried), 1 / 3), (max(tried), 3.0)):
        if best == edge and zoo_sweep.valid(kind, edge * step):
          todo = [edge * step]
  return [tried[lr] for lr in sorted(tried)], best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="experiments/time_aware/results")
  parser.add_argument("--rules", nargs="*", default=list(KINDS))
  parser.add_argument("--steps", nargs="*", type=int, default=list(zoo_sweep.STEPS))
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  path = out / "zoo_sweep.json"
  # Resumable: a rerun keeps what an earlier, interrupted one finished.
  result = json.loads(path.read_text()) if path.exists() else {"rows": [], "best": {}}
  sets = {name: data.load(name, zoo_sweep.IMAGE_SIZE) for name in zoo_sweep.DATASETS}
  t0 = time.time()
  for kind in args.rules:
    for variant, fields in variants(kind).items():
      for steps in args.steps:
        key = f"{kind}/{variant}/{steps}"
        if key in result["best"]:
          continue

        def log(msg, key=key):
          print(f"{key} {msg} ({time.time() - t0:.0f} s)", flush=True)

        rows, best = sweep_one(kind, fields, steps, sets, log)
        result["rows"] += [{"rule": kind, "variant": variant, "steps": steps, **r} for r in rows]
        best_row = next((r for r in rows if r["lr"] == best), None)
        result["best"][key] = (
          None if best_row is None else {"fields": {**fields, "lr": best}, "mean": best_row["mean"]}
        )
        result.update(
          protocol=__doc__.split("\n\n")[1],
          datasets=list(zoo_sweep.DATASETS),
          seeds=list(zoo_sweep.SEEDS),
          network=zoo_sweep.NETWORK,
          factors=list(zoo_sweep.FACTORS),
          extend=zoo_sweep.EXTEND,
        )
        result["seconds"] = round(result.get("seconds", 0.0) + time.time() - t0, 1)
        t0 = time.time()
        checkpointing.atomic_write_json(path, result)
  write_table(result, out / "zoo_sweep.md")


def write_table(result: dict, path: pathlib.Path) -> None:
  """Markdown: each rule's best variant and lr per horizon, with the mean accuracy."""
  steps = sorted({int(k.split("/")[2]) for k in result["best"]})
  kinds = sorted({k.split("/")[0] for k in result["best"]})
  lines = [
    "# The zoo at its best per horizon (meta-training data only)",
    "",
    "Command: `python -m experiments.time_aware.zoo_sweep`; "
    f"{result['seconds'] / 60:.1f} min of compute. Each cell: the mean 10-shot ridge "
    "accuracy of the variant's best lr (`zoo_sweep.py`'s protocol); **bold**: the better "
    "variant, which the held-out evaluation uses at that horizon.",
    "",
    "| rule | variant | " + " | ".join(f"{s} steps" for s in steps) + " |",
    "|" + " --- |" * (2 + len(steps)),
  ]
  for kind in kinds:
    for variant in variants(kind):
      cells = []
      for s in steps:
        got = result["best"].get(f"{kind}/{variant}/{s}")
        if got is None:
          cells.append("—")
          continue
        text = f"{got['mean']:.3f} (lr {got['fields']['lr']:.3g})"
        cells.append(f"**{text}**" if best_variant(result, kind, s) == variant else text)
      lines.append(f"| {kind} | {variant} | " + " | ".join(cells) + " |")
  path.write_text("\n".join(lines) + "\n")


def best_variant(result: dict, kind: str, steps: int) -> str | None:
  """The variant of `kind` with the best mean at `steps` (None: none finished)."""
  means = {
    v: result["best"][f"{kind}/{v}/{steps}"]["mean"]
    for v in variants(kind)
    if result["best"].get(f"{kind}/{v}/{steps}")
  }
  return max(means, key=means.get) if means else None


if __name__ == "__main__":
  main()
