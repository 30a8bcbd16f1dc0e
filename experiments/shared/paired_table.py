"""Paired tables across `make evaluate` runs of one protocol (the same seed fixes the same
network init, labelled examples and query in every run, so differences are paired by seed),
built on `metaunsup.evaluation.report` (`read_results`, `merge`, `cell`, `mean_text`,
`paired_text`). Each SOURCE is PATH or PATH@NAME: PATH a results.json or an evaluation's --out
folder (its results.json, or the stored pieces of an unfinished run), NAME a new name for its
learned rule (two learned rules in one table). One layout per question:

  rules    two rules side by side: each learned rule's accuracy at every checkpoint, label
           count and head (and every sweep point), A − B paired, with a count of verdicts.
             python -m experiments.shared.paired_table rules A B --names=family,fmnist_relu \\
                 --out=experiments/default_rule/results/compare_fmnist_relu_eval_full.md
  horizon  does a rule decay past its meta-training horizon: each rule at --steps on one data
           set, its change from its value at the first step, and its paired difference with
           the VAE and random init of a baseline run (experiments/horizon/README.md).
             python -m experiments.shared.paired_table horizon OUT/default@default \\
                 OUT/pretrained@pretrained --baselines=OUT/vae --out=OUT/results.md
  partial  an unfinished evaluation (its stored pieces): for every data set whose seeds are all
           done, the rule against each baseline at --steps.
             python -m experiments.shared.paired_table partial runs/eval_full_default
  zoo      many runs merged by seed (checked: random init's ridge accuracies agree exactly,
           its logistic-probe ones within one query example): every method at 10^2, 10^3 and
           10^4 inner steps, the best hand-designed rule per cell, the learned rule minus each
           method, and each method's cost; writes OUT/table.md and OUT/table.json.
             python -m experiments.shared.paired_table zoo \\
                 experiments/zoo/results/eval_zoo/results.json \\
                 experiments/default_rule/results/eval_full/results.json \\
                 --out=experiments/zoo/results

Without --out (rules, horizon, partial) the table is printed only.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from metaunsup import checkpointing
from metaunsup.evaluation import report
from metaunsup.evaluation.stats import mean_sem

HEADER = "mean ± SE over seeds, paired difference ('wins'/'loses': beyond 2 SE)"


# rules: two learned rules, every cell of the protocol.


def rules_table(a: dict, b: dict, names: tuple[str, str]) -> str:
  """Each rule at every data set, label count, head and checkpoint past 0 (both are random
  init there), and A − B paired over the seeds both have."""
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
        for step in (s for s in cfg["checkpoints"] if s > 0):
          sa = report.per_seed(a, ds, "rule", shots, head, step)
          sb = report.per_seed(b, ds, "rule", shots, head, step)
          if not sa or not sb:
            continue  # a step beyond this data set's cap
          seeds = sorted(set(sa) & set(sb))
          lines.append(
            f"| {ds} | {shots} | {head} | {step} | {report.mean_text(sa[s] for s in seeds)} | "
            f"{report.mean_text(sb[s] for s in seeds)} | {report.paired_text(sa, sb, bold=False)} |"
          )
  return "\n".join(lines) + "\n"


def rules_sweep_table(a: dict, b: dict, names: tuple[str, str]) -> str:
  """The rule of A against the rule of B at every sweep point (the paper's Fig. 5)."""

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
  for sweep, value in dict.fromkeys((r["sweep"], r["value"]) for r in a.get("sweep_records", [])):
    sa, sb = per_seed(a, sweep, value), per_seed(b, sweep, value)
    seeds = sorted(set(sa) & set(sb))
    if seeds:
      lines.append(
        f"| {sweep} | {value} | {report.mean_text(sa[s] for s in seeds)} | "
        f"{report.mean_text(sb[s] for s in seeds)} | {report.paired_text(sa, sb, bold=False)} |"
      )
  return "\n".join(lines) + "\n"


def verdict_counts(text: str) -> str:
  """How many rows of the tables each verdict has, and the rows where A loses."""
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


def rules(sources: list[str], names: tuple[str, str]) -> str:
  if len(sources) != 2 or len(names) != 2:
    raise SystemExit("rules takes two sources and two --names, e.g. --names=family,fmnist_relu")
  a, b = (report.read_results(s) for s in sources)
  tables = rules_table(a, b, names)
  if a.get("sweep_records") or b.get("sweep_records"):
    tables += "\nThe sweeps (rule only):\n\n" + rules_sweep_table(a, b, names)
  return (
    f"Learned rule, `{sources[0]}` ({names[0]}) against `{sources[1]}` ({names[1]}); "
    f"{HEADER}.\n\n" + verdict_counts(tables) + "\n" + tables
  )


# horizon: each rule far past its meta-training horizon, against its own early value.


def horizon(
  sources: list[str], baselines: str, dataset: str, steps: tuple[int, ...], shots=10, head="ridge"
) -> str:
  runs = [report.read_results(s) for s in sources]
  base = report.read_results(baselines)
  names = [s.partition("@")[2] or "rule" for s in sources]
  lines = [
    f"| rule | inner steps | accuracy | − its value at {steps[0]} | − VAE (paired) | "
    "− random init (paired) |",
    "| --- | --- | --- | --- | --- | --- |",
  ]
  for name, run in zip(names, runs):
    first = report.cell(run, dataset, name, shots, head, steps[0])
    for step in steps:
      acc = report.cell(run, dataset, name, shots, head, step)
      cells = [
        report.mean_text(acc.values()),
        "" if step == steps[0] else report.paired_text(acc, first),
      ]
      for method in ("vae", "random_init"):
        cells.append(
          report.paired_text(acc, report.per_seed(base, dataset, method, shots, head, step))
        )
      lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
  for method in ("vae", "random_init"):
    for step in steps:
      values = report.per_seed(base, dataset, method, shots, head, step).values()
      lines.append(f"| ({method}) | {step} | {report.mean_text(values)} | | | |")
  label = {"mnist@14": "MNIST 14x14", "fashion_mnist@14": "Fashion-MNIST 14x14"}.get(
    dataset, dataset
  )
  return (
    f"{label} (held out), 64-64-32 relu, {shots} labels per class, {head}, "
    f"{len(base['seeds'])} seeds; mean ± SE, paired differences ('wins'/'loses': beyond 2 SE)."
    "\n\n" + "\n".join(lines) + "\n"
  )


# partial: an unfinished evaluation, rule against each baseline.

BASELINES = ("random_init", "vae", "supervised", "oja", "pca", "raw")


def partial(source: str, steps: tuple[int, ...], seeds: int, shots=10, head="ridge") -> str:
  results = report.read_results(source)
  records = results["records"]
  datasets = sorted({r["dataset"] for r in records})
  methods = [m for m in BASELINES if any(r["method"] == m for r in records)]
  lines = [
    "| data | inner steps | rule | " + " | ".join(f"rule − {m}" for m in methods) + " |",
    "| --- | --- | --- | " + " | ".join("---" for _ in methods) + " |",
  ]
  for ds in datasets:
    for step in steps:
      rule = report.per_seed(results, ds, "rule", shots, head, step)
      if len(rule) < seeds:
        continue
      cells = []
      for method in methods:
        other = report.per_seed(results, ds, method, shots, head, step)
        cells.append(f"{report.paired_text(rule, other)} ({mean_sem(list(other.values()))[0]:.3f})")
      lines.append(
        f"| {ds} | {step} | {report.mean_text(rule.values())} | " + " | ".join(cells) + " |"
      )
  return (
    f"Finished data sets of `{source}` (partial pieces), {shots} labels per class, {head}; "
    "rule mean ± SE over seeds, paired differences (in brackets: the baseline's mean; "
    "'wins'/'loses': beyond 2 SE).\n\n" + "\n".join(lines) + "\n"
  )


# zoo: many methods from several runs, merged by seed.

ZOO_STEPS = (100, 1000, 10000)
ZOO_SHOTS = 10
REFERENCES = ("kmeans", "ica", "pca", "vae", "supervised", "random_init", "raw")


def methods_of(merged: dict) -> list[str]:
  """The learned rule, the hand-designed rules (local:*, oja), then the references."""
  present = {r["method"] for r in merged["records"]}
  hand = sorted(m for m in present if m.startswith("local:")) + (
    ["oja"] if "oja" in present else []
  )
  known = [m for m in ["rule", *hand, *REFERENCES] if m in present]
  return known + sorted(present - set(known))  # e.g. another learned rule, renamed on input


def _cell(merged, dataset, method, head, step) -> dict:
  return report.cell(merged, dataset, method, ZOO_SHOTS, head, step)


def best_rule(merged, dataset, head, step) -> str | None:
  """The hand-designed rule of highest mean accuracy in one cell."""
  hand = [m for m in methods_of(merged) if m.startswith("local:") or m == "oja"]
  means = {
    m: np.mean(list(v.values())) for m in hand if (v := _cell(merged, dataset, m, head, step))
  }
  means = {m: v for m, v in means.items() if np.isfinite(v)}
  return max(means, key=means.get) if means else None  # type: ignore[arg-type]


def zoo_tables(merged: dict, datasets: list[str], head: str) -> list[str]:
  lines = []
  for step in ZOO_STEPS:
    lines += [
      f"### {head}, {step} inner steps ({ZOO_SHOTS} labels per class)",
      "",
      "| method | " + " | ".join(datasets) + " |",
      "|" + " --- |" * (len(datasets) + 1),
    ]
    for m in methods_of(merged):
      lines.append(
        f"| {report.name(m)} | "
        + " | ".join(report.mean_text(_cell(merged, d, m, head, step).values()) for d in datasets)
        + " |"
      )
    lines.append("")
  return lines


def zoo_differences(merged: dict, datasets: list[str], head: str) -> tuple[list[str], list[dict]]:
  """The learned rule against each other method at each step, paired by seed."""
  lines = [
    f"### Paired differences, learned rule minus each method ({head}, {ZOO_SHOTS} labels "
    "per class; verdict beyond 2 standard errors)",
    "",
    "| data set | step | method | difference | verdict |",
    "| --- | --- | --- | --- | --- |",
  ]
  rows = []
  for d in datasets:
    for step in ZOO_STEPS:
      rule = _cell(merged, d, "rule", head, step)
      if not rule:
        continue
      for m in methods_of(merged)[1:]:
        other = _cell(merged, d, m, head, step)
        if not other:
          continue
        diff, sem = report.paired(rule, other)
        v = report.verdict(diff, sem)
        rows.append(
          dict(
            dataset=d,
            step=step,
            head=head,
            method=m,
            difference=diff,
            sem=sem,
            verdict=v.strip("*"),
          )
        )
        lines.append(f"| {d} | {step} | {report.name(m)} | {diff:+.3f} ± {sem:.3f} | {v} |")
  return lines + [""], rows


def zoo_cost(merged: dict, datasets: list[str]) -> list[str]:
  """Wall seconds per seed of each method (median over seeds; whole curve and readouts)."""
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


def zoo(sources: list[str], out: pathlib.Path) -> str:
  results = [report.read_results(s) for s in sources]
  merged = report.merge(results)
  datasets = [
    d
    for d in results[0]["config"]["datasets"]
    if any(r["dataset"] == d and r["method"] == "rule" for r in merged["records"])
  ]
  lines = [
    "# Hand-designed local rules against the learned rule (held-out data)",
    "",
    "Merged from "
    + ", ".join(f"`{p}`" for p in sources)
    + f" by `python -m experiments.shared.paired_table zoo` (seeds {merged['seeds']}; paired: "
    "random init's ridge accuracies agree exactly across them, its logistic-probe ones within "
    "one query example). Mean ± standard error over seeds; support from "
    "the train split, a class-balanced test query (`make evaluate`'s protocol).",
    "",
    "### The best hand-designed rule per cell (ridge)",
    "",
    "| data set | " + " | ".join(f"{s} steps" for s in ZOO_STEPS) + " |",
    "|" + " --- |" * (len(ZOO_STEPS) + 1),
  ]
  for d in datasets:
    best = (best_rule(merged, d, "ridge", s) for s in ZOO_STEPS)
    lines.append(f"| {d} | " + " | ".join(report.name(b) if b else "—" for b in best) + " |")
  lines += [
    "",
    "### The strongest hand-designed rule against PCA-32 and k-means-32 (ridge, paired)",
    "",
    "| data set | step | rule | minus PCA-32 | verdict | minus k-means-32 | verdict |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  for d in datasets:
    for s in ZOO_STEPS:
      b = best_rule(merged, d, "ridge", s)
      if b is None:
        continue
      cells = []
      for ref in ("pca", "kmeans"):
        diff, sem = report.paired(
          _cell(merged, d, b, "ridge", s), _cell(merged, d, ref, "ridge", s)
        )
        cells += [f"{diff:+.3f} ± {sem:.3f}", report.verdict(diff, sem)]
      lines.append(f"| {d} | {s} | {report.name(b)} | " + " | ".join(cells) + " |")
  lines += [""]
  rows: list[dict] = []
  for head in ("ridge", "logistic"):
    lines += zoo_tables(merged, datasets, head)
    diff_lines, diff_rows = zoo_differences(merged, datasets, head)
    lines += diff_lines
    rows += diff_rows
  lines += zoo_cost(merged, datasets)
  out.mkdir(parents=True, exist_ok=True)
  text = "\n".join(lines) + "\n"
  (out / "table.md").write_text(text)
  checkpointing.atomic_write_json(out / "table.json", {"sources": sources, "differences": rows})
  counts = {v: sum(r["verdict"] == v for r in rows) for v in ("wins", "level", "loses")}
  return f"learned rule vs each method, all cells: {counts}"


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("layout", choices=("rules", "horizon", "partial", "zoo"))
  p.add_argument("sources", nargs="+", help="PATH or PATH@NAME (module docstring)")
  p.add_argument("--names", default="A,B", help="rules: the two rules' names")
  p.add_argument("--baselines", help="horizon: the run with the VAE and random init")
  p.add_argument("--dataset", default="mnist@14", help="horizon: the data set")
  p.add_argument("--steps", default=None, help="horizon, partial: inner steps, comma-separated")
  p.add_argument("--seeds", type=int, default=5, help="partial: seeds a data set needs")
  p.add_argument("--out", default=None, help="a file (zoo: a folder) to write")
  args = p.parse_args()
  steps = tuple(int(s) for s in args.steps.split(",")) if args.steps else None
  if args.layout == "rules":
    text = rules(args.sources, tuple(args.names.split(",")))  # type: ignore[arg-type]
  elif args.layout == "horizon":
    if not args.baselines:
      raise SystemExit("horizon needs --baselines=RUN, an evaluation with the VAE and random init")
    text = horizon(args.sources, args.baselines, args.dataset, steps or (300, 1000, 10000))
  elif args.layout == "partial":
    if len(args.sources) != 1:
      raise SystemExit("partial takes one evaluation folder")
    text = partial(args.sources[0], steps or (100, 300, 1000, 3000, 10000), args.seeds)
  else:
    if not args.out:
      raise SystemExit("zoo needs --out=FOLDER (it writes table.md and table.json there)")
    print(zoo(args.sources, pathlib.Path(args.out)))
    return
  print(text)
  if args.out:
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
  main()
