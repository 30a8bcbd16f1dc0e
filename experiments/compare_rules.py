"""Two rules side by side from two `make evaluate` runs with the same evaluation config: the
learned rule's accuracy at every checkpoint, and the paired difference A - B over seeds (the
same seed fixes the same network initialisation, labelled examples and query in both runs).

  .venv/bin/python -m experiments.compare_rules \
      runs/eval_targets_default runs/eval_targets_pretrained \
      --names=default,fmnist_relu --out=experiments/results/default/compare_pretrained.md
"""

from __future__ import annotations

import argparse
import json
import pathlib

from metaunsup.evaluation import report
from metaunsup.evaluation.stats import mean_sem


def table(a: dict, b: dict, names: tuple[str, str]) -> str:
  if a["config"] != b["config"]:
    raise SystemExit("the two runs used different evaluation configs; compare like with like")
  lines = [
    f"| data | labels/class | head | inner steps | {names[0]} | {names[1]} | "
    f"{names[0]} − {names[1]} (paired) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  cfg = a["config"]
  for ds in cfg["datasets"]:
    for shots in cfg["shots"]:
      for head in cfg["heads"]:
        for step in (s for s in cfg["checkpoints"] if s > 0):  # at 0 both are random init
          sa = report.per_seed(a, ds, "rule", shots, head, step)
          sb = report.per_seed(b, ds, "rule", shots, head, step)
          if not sa or not sb:
            continue  # a step beyond this data set's cap
          seeds = sorted(set(sa) & set(sb))
          ma, ea = mean_sem([sa[s] for s in seeds])
          mb, eb = mean_sem([sb[s] for s in seeds])
          d, de = report.paired(sa, sb)
          word = report.verdict(d, de).strip("*")
          lines.append(
            f"| {ds} | {shots} | {head} | {step} | {ma:.3f} ± {ea:.3f} | "
            f"{mb:.3f} ± {eb:.3f} | {d:+.3f} ± {de:.3f} {word} |"
          )
  return "\n".join(lines) + "\n"


def sweep_table(a: dict, b: dict, names: tuple[str, str]) -> str:
  """The rule of A against the rule of B at every point of the width, depth and activation
  sweeps (the paper's Fig. 5), paired over the sweep's seeds."""

  def per_seed(run, sweep, value):
    return {
      r["seed"]: r["accuracy"]
      for r in run.get("sweep_records", [])
      if r["method"] == "rule" and r["sweep"] == sweep and r["value"] == value
    }

  lines = [
    f"| sweep | value | {names[0]} | {names[1]} | {names[0]} − {names[1]} (paired) |",
    "| --- | --- | --- | --- | --- |",
  ]
  points = dict.fromkeys((r["sweep"], r["value"]) for r in a.get("sweep_records", []))
  for sweep, value in points:
    sa, sb = per_seed(a, sweep, value), per_seed(b, sweep, value)
    seeds = sorted(set(sa) & set(sb))
    if not seeds:
      continue
    ma, ea = mean_sem([sa[s] for s in seeds])
    mb, eb = mean_sem([sb[s] for s in seeds])
    d, de = report.paired(sa, sb)
    lines.append(
      f"| {sweep} | {value} | {ma:.3f} ± {ea:.3f} | {mb:.3f} ± {eb:.3f} | "
      f"{d:+.3f} ± {de:.3f} {report.verdict(d, de).strip('*')} |"
    )
  return "\n".join(lines) + "\n"


def verdict_counts(text: str) -> str:
  """How many rows of the tables above each verdict has, and the rows where A loses."""
  rows = [
    l
    for l in text.splitlines()
    if l.startswith("| ") and l.rstrip().endswith(("wins |", "level |", "loses |"))
  ]
  counts = {w: sum(l.rstrip().endswith(f"{w} |") for l in rows) for w in ("wins", "level", "loses")}
  losing = [
    "- " + " · ".join(c.strip() for c in l.strip().strip("|").split("|"))
    for l in rows
    if l.rstrip().endswith("loses |")
  ]
  return (
    f"{len(rows)} comparisons: {counts['wins']} wins, {counts['level']} level, "
    f"{counts['loses']} loses" + (":\n\n" + "\n".join(losing) + "\n" if losing else ".\n")
  )


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("a")
  p.add_argument("b")
  p.add_argument("--names", default="A,B")
  p.add_argument("--out", default=None)
  args = p.parse_args()
  runs = []
  for d in (args.a, args.b):
    path = pathlib.Path(d) / "results.json"
    if not path.is_file():
      raise SystemExit(f"{path} not found: run `make evaluate OUT={d}` first")
    runs.append(json.loads(path.read_text()))
  names = tuple(args.names.split(","))
  if len(names) != 2:
    raise SystemExit(
      "--names takes two names separated by a comma, e.g. --names=default,fmnist_relu"
    )
  tables = table(*runs, names)
  if any(run.get("sweep_records") for run in runs):
    tables += "\nThe sweeps (rule only):\n\n" + sweep_table(*runs, names)
  text = (
    f"Learned rule, `{args.a}` ({names[0]}) against `{args.b}` ({names[1]}); mean ± SE "
    f"over seeds, paired difference ('wins'/'loses': beyond 2 SE).\n\n"
    + verdict_counts(tables)
    + "\n"
    + tables
  )
  print(text)
  if args.out:
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
  main()
