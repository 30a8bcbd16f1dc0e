"""The hand-designed rules' table (issue 28): every zoo rule, Oja, k-means-32, ICA-32, PCA-32,
the VAE, random init and the learned rule, on held-out data, from two evaluations of the same
protocol merged by seed: `make evaluate CONFIG=experiments/configs/eval_zoo.py` (the
hand-designed rules and the references) and the committed eval_full of the learned rule
(`experiments/results/default/eval_full`, the learned rule and the VAE). The two are paired:
the same seeds give the same network init and the same labelled examples, which this script
checks before it pairs anything (random init's ridge accuracies must agree exactly, its
logistic-probe ones within one query example).

  python -m experiments.zoo_table --results runs/eval_zoo/results.json \
      experiments/results/default/eval_full/results.json --out experiments/results/zoo
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from metaunsup import checkpointing
from metaunsup.evaluation import report
from metaunsup.evaluation.stats import mean_sem

STEPS = (100, 1000, 10000)
SHOTS = 10
REFERENCES = ("kmeans", "ica", "pca", "vae", "supervised", "random_init", "raw")


def read(spec: str) -> dict:
  """A results.json, "PATH" or "PATH@NAME" (its method "rule" renamed NAME)."""
  path, _, name = spec.partition("@")
  results = json.loads(pathlib.Path(path).read_text())
  if name:
    for rec in results["records"]:
      if rec["method"] == "rule":
        rec["method"], rec["renamed"] = name, True
  return results


def merge(results: list[dict]) -> dict:
  """One results dict with the records of all, after checking they are paired.

  Raises:
    ValueError: the evaluations' seeds or shared random-init accuracies differ.
  """
  seeds = {tuple(r["seeds"]) for r in results}
  if len(seeds) != 1:
    raise ValueError(f"the evaluations used different seeds {sorted(seeds)}; not paired")
  base = results[0]
  keys = ("widths", "activation", "batch_size", "query_size", "reference_batch", "seed")
  for r in results[1:]:
    differ = [k for k in keys if r["config"][k] != base["config"][k]]
    if differ:
      raise ValueError(f"the evaluations' configs differ in {differ}; not paired")
  init = {}
  for r in results:
    for rec in r["records"]:
      if rec["method"] == "random_init":
        key = (rec["dataset"], rec["seed"], rec["shots"], rec["head"])
        # The ridge head is closed form: identical. The logistic probe is an iterative fit
        # whose last bits follow the summation order of the machine's load and threads; it
        # may flip one query example (1 / query_size), no more, from the same init and labels.
        tol = 0.0 if rec["head"] == "ridge" else 1.0 / base["config"]["query_size"] + 1e-9
        if key in init and abs(init[key] - rec["accuracy"]) > tol:
          raise ValueError(
            f"random init differs at {key}: {init[key]} vs {rec['accuracy']}; "
            "the evaluations are not paired"
          )
        init[key] = rec["accuracy"]
  seen, records = set(), []
  for r in results:
    for rec in r["records"]:
      key = (rec["dataset"], rec["method"], rec["step"], rec["seed"], rec["shots"], rec["head"])
      if key not in seen:
        seen.add(key)
        records.append(rec)
  config = dict(
    base["config"], checkpoints=sorted({c for r in results for c in r["config"]["checkpoints"]})
  )
  seconds: dict = {}  # (dataset, method) -> wall seconds per seed, from the run that scored it
  for r in results:
    for spec, extras in r.get("extras", {}).items():
      for per_method in extras.get("seconds", {}).values():
        for m, t in per_method.items():
          seconds.setdefault((spec, m), []).append(t)
  return {"config": config, "records": records, "seeds": list(base["seeds"]), "seconds": seconds}


def methods_of(merged: dict) -> list[str]:
  """The learned rule, the hand-designed rules (local:*, oja), then the references."""
  present = {r["method"] for r in merged["records"]}
  rules = sorted(m for m in present if m.startswith("local:")) + (
    ["oja"] if "oja" in present else []
  )
  known = [m for m in ["rule", *rules, *REFERENCES] if m in present]
  return known + sorted(present - set(known))  # e.g. another learned rule, renamed on input


def cell(merged, dataset, method, head, step) -> dict:
  renamed = {r["method"] for r in merged["records"] if r.get("renamed")}
  if method not in renamed:
    return report.per_seed(merged, dataset, method, SHOTS, head, step)
  # A learned rule renamed on input (`read`): a curve, which the registry does not know.
  return {
    r["seed"]: r["accuracy"]
    for r in merged["records"]
    if (r["dataset"], r["method"], r["shots"], r["head"], r["step"])
    == (dataset, method, SHOTS, head, step)
  }


def fmt(values: dict) -> str:
  if not values:
    return "—"
  if not np.all(np.isfinite(list(values.values()))):
    return "diverged"
  mean, sem = mean_sem(list(values.values()))
  return f"{mean:.3f} ± {sem:.3f}"


def tables(merged: dict, datasets: list[str], head: str) -> list[str]:
  lines = []
  names = methods_of(merged)
  for step in STEPS:
    lines += [
      f"### {head}, {step} inner steps ({SHOTS} labels per class)",
      "",
      "| method | " + " | ".join(datasets) + " |",
      "|" + " --- |" * (len(datasets) + 1),
    ]
    for m in names:
      lines.append(
        f"| {report.name(m)} | "
        + " | ".join(fmt(cell(merged, d, m, head, step)) for d in datasets)
        + " |"
      )
    lines.append("")
  return lines


def best_rule(merged, dataset, head, step) -> str | None:
  """The hand-designed rule of highest mean accuracy in one cell."""
  rules = [m for m in methods_of(merged) if m.startswith("local:") or m == "oja"]
  means = {
    m: np.mean(list(v.values())) for m in rules if (v := cell(merged, dataset, m, head, step))
  }
  means = {m: v for m, v in means.items() if np.isfinite(v)}
  return max(means, key=means.get) if means else None


def differences(merged: dict, datasets: list[str], head: str) -> tuple[list[str], list[dict]]:
  """The learned rule against each other method at each step, paired by seed."""
  lines = [
    f"### Paired differences, learned rule minus each method ({head}, {SHOTS} labels "
    "per class; verdict beyond 2 standard errors)",
    "",
    "| data set | step | method | difference | verdict |",
    "| --- | --- | --- | --- | --- |",
  ]
  rows = []
  for d in datasets:
    for step in STEPS:
      rule = cell(merged, d, "rule", head, step)
      if not rule:
        continue
      for m in methods_of(merged)[1:]:
        other = cell(merged, d, m, head, step)
        if not other:
          continue
        diff, sem = report.paired(rule, other)
        v = report.verdict(diff, sem)
        rows.append(
          {
            "dataset": d,
            "step": step,
            "head": head,
            "method": m,
            "difference": diff,
            "sem": sem,
            "verdict": v.strip("*"),
          }
        )
        lines.append(f"| {d} | {step} | {report.name(m)} | {diff:+.3f} ± {sem:.3f} | {v} |")
  return lines + [""], rows


def cost_table(merged: dict, datasets: list[str]) -> list[str]:
  """Wall seconds per seed of each method (median over seeds; the run's every checkpoint up
  to 10^4 inner steps, all readouts included)."""
  lines = [
    "### Cost: wall seconds per seed (median over seeds; whole curve and readouts)",
    "",
    "| method | " + " | ".join(datasets) + " |",
    "|" + " --- |" * (len(datasets) + 1),
  ]
  for m in methods_of(merged):
    cells = [merged["seconds"].get((d, m)) for d in datasets]
    lines.append(
      f"| {report.name(m)} | "
      + " | ".join(f"{np.median(c):.0f}" if c else "—" for c in cells)
      + " |"
    )
  return lines + [""]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument(
    "--results",
    nargs="+",
    required=True,
    help="results.json files, each optionally PATH@NAME: its method 'rule' renamed NAME "
    "(two learned rules in one table; the first file's 'rule' is the one compared)",
  )
  parser.add_argument("--out", default="experiments/results/zoo")
  args = parser.parse_args()
  results = [read(p) for p in args.results]
  merged = merge(results)
  datasets = [
    d
    for d in results[0]["config"]["datasets"]
    if any(r["dataset"] == d and r["method"] == "rule" for r in merged["records"])
  ]
  lines = [
    "# Hand-designed local rules against the learned rule (held-out data)",
    "",
    "Merged from "
    + ", ".join(f"`{p}`" for p in args.results)
    + f" by `python -m experiments.zoo_table` (seeds {merged['seeds']}; paired: random "
    "init's ridge accuracies agree exactly across them, its logistic-probe ones within "
    "one query example). Mean ± standard error over seeds; support from "
    "the train split, a class-balanced test query (`make evaluate`'s protocol).",
    "",
  ]
  best, rows = (
    [
      "### The best hand-designed rule per cell (ridge)",
      "",
      "| data set | " + " | ".join(f"{s} steps" for s in STEPS) + " |",
      "|" + " --- |" * (len(STEPS) + 1),
    ],
    [],
  )
  for d in datasets:
    best.append(
      f"| {d} | "
      + " | ".join(
        report.name(b) if (b := best_rule(merged, d, "ridge", s)) else "—" for s in STEPS
      )
      + " |"
    )
  lines += best + [""]
  lines += [
    "### The strongest hand-designed rule against PCA-32 and k-means-32 (ridge, paired)",
    "",
    "| data set | step | rule | minus PCA-32 | verdict | minus k-means-32 | verdict |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  for d in datasets:
    for s in STEPS:
      b = best_rule(merged, d, "ridge", s)
      if b is None:
        continue
      cells = []
      for ref in ("pca", "kmeans"):
        diff, sem = report.paired(cell(merged, d, b, "ridge", s), cell(merged, d, ref, "ridge", s))
        cells += [f"{diff:+.3f} ± {sem:.3f}", report.verdict(diff, sem)]
      lines.append(f"| {d} | {s} | {report.name(b)} | " + " | ".join(cells) + " |")
  lines += [""]
  for head in ("ridge", "logistic"):
    lines += tables(merged, datasets, head)
    diff_lines, diff_rows = differences(merged, datasets, head)
    lines += diff_lines
    rows += diff_rows
  lines += cost_table(merged, datasets)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "table.md").write_text("\n".join(lines) + "\n")
  checkpointing.atomic_write_json(
    out / "table.json", {"sources": args.results, "differences": rows}
  )
  counts = {v: sum(r["verdict"] == v for r in rows) for v in ("wins", "level", "loses")}
  print(f"learned rule vs each method, all cells: {counts}")


if __name__ == "__main__":
  main()
