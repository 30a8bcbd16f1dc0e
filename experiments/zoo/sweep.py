"""The learning-rate sweep of the hand-designed local rules (`metaunsup.zoo`, Oja's rule) on
the meta-training data, never on held-out data: each rule's step size is chosen here, and
`experiments/zoo/configs/eval_zoo.py` evaluates every rule at the step size this sweep chose
(issue 28: the same network, data, inner steps and batch as the learned rule, and a tuned
learning rate).

Protocol: Fashion-MNIST's and the alphabet's *train* splits at 14x14 (two of the learned
rule's meta-training data sets). The first 80% of a train split is the rule's unlabeled
data; the labelled examples come from the other 20%: 10 per class as the support set and
up to 50 per class as the query, class-balanced, scored by the ridge head
(`metaunsup.fewshot_accuracy`). The network is the evaluation's (64-64-32 relu, batch 64);
each (rule, lr, data set, seed) trains a fresh network with `metaunsup.apply_rule` for
10^2, 10^3 and 10^4 inner steps. A rule's lr is the one with the best mean accuracy over
both data sets, both seeds and the three step counts (one lr for every step count, as the
evaluation uses one). The grid is the default times 1/9 ... 9 in factors of 3; when the best
is at an end, the sweep goes on past it, a factor of 3 at a time, up to twice.

  python -m experiments.zoo.sweep --out experiments/zoo/results   # ~20 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

import metaunsup
from metaunsup import checkpointing, data, local_rule

# Grids: multiples of each rule's published default (the rule's own normalisation makes lr
# relative, so a factor-3 grid over two orders of magnitude brackets the optimum); values a
# rule refuses (e.g. Oja's lr must stay below 1) are left out.
FACTORS = (1 / 9, 1 / 3, 1.0, 3.0, 9.0)
EXTEND = 2
DATASETS = ("fashion_mnist", "alphabet")
STEPS = (100, 1000, 10000)
SEEDS = (0, 1)
NETWORK = dict(widths=(64, 64, 32), activation="relu", batch_size=64)
SHOTS, QUERY_PER_CLASS, IMAGE_SIZE = 10, 50, 14


def validation_split(ds: data.Dataset, seed: int):
  """(unlabeled [N, D], support x/y, query x/y) from the train split alone."""
  n = len(ds.train_x)
  cut = int(0.8 * n)
  rng = np.random.default_rng([seed, 28])
  y = ds.train_y[cut:]
  support, query = [], []
  for c in range(ds.num_classes):
    pool = rng.permutation(np.flatnonzero(y == c))
    support.append(pool[:SHOTS])
    query.append(pool[SHOTS : SHOTS + QUERY_PER_CLASS])
  support, query = np.concatenate(support) + cut, np.concatenate(query) + cut
  return (
    ds.train_x[:cut],
    ds.train_x[support],
    ds.train_y[support],
    ds.train_x[query],
    ds.train_y[query],
  )


def valid(kind: str, lr: float) -> bool:
  """Whether the rule accepts this lr (e.g. Oja's must stay below 1)."""
  try:
    local_rule.rule_class(kind)(lr=lr)
  except ValueError:
    return False
  return True


def grid(kind: str) -> list[float]:
  """The lr values of `kind` the sweep starts with."""
  default = local_rule.rule_class(kind)().lr
  return [float(default * f) for f in FACTORS if valid(kind, float(default * f))]


def score(kind: str, lr: float, ds: data.Dataset, seed: int) -> dict:
  """10-shot ridge accuracy on the validation split after each of STEPS inner steps."""
  rule = metaunsup.Rule(theta={}, config=local_rule.rule_class(kind)(lr=lr))
  unlabeled, xs, ys, xq, yq = validation_split(ds, seed)
  out = {}
  for steps in STEPS:
    # data.load standardised them already; doing it again would move the sweep's floats
    model = metaunsup.apply_rule(
      rule, unlabeled, steps=steps, seed=seed, standardize=False, **NETWORK
    )
    fs, fq = model.features(xs), model.features(xq)
    out[steps] = (
      float(metaunsup.fewshot_accuracy(fs, ys, fq, yq, head="ridge"))
      if np.all(np.isfinite(fs)) and np.all(np.isfinite(fq))
      else float("nan")
    )
  return out


def sweep_rule(kind: str, score_fn, sets: dict, seeds, steps, t0: float):
  """One rule's sweep: `grid(kind)`, extended past an end where the best is (module
  docstring).

  Args:
    kind: the rule's kind.
    score_fn: (kind, lr, data set, seed) -> {steps: accuracy}.
    sets: {name: data set}.
    seeds: the seeds averaged over.
    steps: the inner-step counts `score_fn` returns.
    t0: the sweep's start (time.time()), for the progress lines.

  Returns:
    ({lr: row}, the best lr or None where every lr diverged).
  """
  tried: dict[float, dict] = {}
  todo = grid(kind)
  best = None
  while todo:
    for lr in todo:
      accs = {
        name: {seed: score_fn(kind, lr, ds, seed) for seed in seeds} for name, ds in sets.items()
      }
      flat = [a for per_seed in accs.values() for s in per_seed.values() for a in s.values()]
      mean = float(np.mean(flat)) if np.all(np.isfinite(flat)) else float("nan")
      tried[lr] = {
        "rule": kind,
        "lr": lr,
        "mean": mean,
        "accuracy": {
          name: {str(n): float(np.mean([accs[name][s][n] for s in seeds])) for n in steps}
          for name in sets
        },
      }
      print(f"{kind} lr={lr:.4g}: mean {mean:.3f} ({time.time() - t0:.0f} s)", flush=True)
    finite = {lr: r["mean"] for lr, r in tried.items() if np.isfinite(r["mean"])}
    best = max(finite, key=finite.get) if finite else None
    # The best at an end of the grid: go on one factor of 3 past it (up to EXTEND times),
    # so that the chosen lr is an interior optimum wherever the rule allows one.
    todo = []
    if best is not None and len(tried) < len(grid(kind)) + EXTEND:
      for edge, step in ((min(tried), 1 / 3), (max(tried), 3.0)):
        if best == edge and valid(kind, edge * step):
          todo = [edge * step]
  return tried, best


def table(rows: list[dict], chosen: dict, datasets, steps) -> list[str]:
  """The sweep's markdown table: one row per (rule, lr), the chosen lr marked.

  Args:
    rows: `sweep_rule`'s rows, in order.
    chosen: {rule: {"lr": lr} or None}.
    datasets: the data sets' names, in column order.
    steps: the inner-step counts, in column order.

  Returns:
    The table's lines.
  """
  lines = [
    "| rule | lr | "
    + " | ".join(f"{d} @{s}" for d in datasets for s in steps)
    + " | mean | chosen |",
    "|" + " --- |" * (3 + len(datasets) * len(steps) + 1),
  ]
  for r in rows:
    mark = "**yes**" if chosen.get(r["rule"]) and chosen[r["rule"]]["lr"] == r["lr"] else ""
    lines.append(
      f"| {r['rule']} | {r['lr']:.4g} | "
      + " | ".join(f"{r['accuracy'][d][str(s)]:.3f}" for d in datasets for s in steps)
      + f" | {r['mean']:.3f} | {mark} |"
    )
  return lines


def sweep_rules(kinds, score_fn, sets: dict, seeds, steps) -> tuple[list[dict], dict]:
  """`sweep_rule` for every kind in turn.

  Returns:
    (rows of every (rule, lr) tried, in order of kind then lr; {rule: {"lr": best} or
    None}).
  """
  rows, chosen, t0 = [], {}, time.time()
  for kind in kinds:
    tried, best = sweep_rule(kind, score_fn, sets, seeds, steps, t0)
    rows += [tried[lr] for lr in sorted(tried)]
    chosen[kind] = {"lr": best} if best is not None else None
  return rows, chosen


def write(out: pathlib.Path, result: dict, head: list[str], datasets, steps) -> None:
  """OUT/sweep.json (`result`) and OUT/sweep.md (`head`, then `table`); prints the chosen
  lrs."""
  checkpointing.atomic_write_json(out / "sweep.json", result)
  lines = head + [""] + table(result["rows"], result["chosen"], datasets, steps)
  (out / "sweep.md").write_text("\n".join(lines) + "\n")
  print(json.dumps(result["chosen"], indent=2))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="experiments/zoo/results")
  parser.add_argument(
    "--rules",
    nargs="*",
    default=None,
    help="rule kinds (default: every registered rule but the learned one)",
  )
  args = parser.parse_args()
  kinds = args.rules or [k for k in local_rule.kinds() if k != local_rule.DEFAULT_KIND]
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  sets = {name: data.load(name, IMAGE_SIZE) for name in DATASETS}
  t0 = time.time()
  rows, chosen = sweep_rules(kinds, score, sets, SEEDS, STEPS)
  result = {
    "protocol": __doc__.split("\n\n")[1],
    "datasets": list(DATASETS),
    "steps": list(STEPS),
    "seeds": list(SEEDS),
    "network": NETWORK,
    "shots": SHOTS,
    "query_per_class": QUERY_PER_CLASS,
    "image_size": IMAGE_SIZE,
    "factors": list(FACTORS),
    "extend": EXTEND,
    "rows": rows,
    "chosen": chosen,
    "seconds": round(time.time() - t0, 1),
  }
  head = [
    "# Learning-rate sweep of the hand-designed rules (meta-training data only)",
    "",
    f"Command: `python -m experiments.zoo.sweep --out {args.out}`; "
    f"{result['seconds'] / 60:.1f} min. Mean 10-shot ridge accuracy on the train "
    "splits' validation part (see experiments/zoo/sweep.py), seeds "
    f"{list(SEEDS)}.",
  ]
  write(out, result, head, DATASETS, STEPS)


if __name__ == "__main__":
  main()
