"""Two rules side by side from two `make evaluate` runs with the same evaluation config: the
learned rule's accuracy at every checkpoint, and the paired difference A - B over seeds (the
same seed fixes the same network initialisation, labelled examples and query in both runs).

  .venv/bin/python -m experiments.compare_rules runs/eval_targets_default runs/eval_targets_pretrained \
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
  lines = [f"| data | labels/class | head | inner steps | {names[0]} | {names[1]} | "
           f"{names[0]} − {names[1]} (paired) |", "| --- | --- | --- | --- | --- | --- | --- |"]
  cfg = a["config"]
  for ds in cfg["datasets"]:
    for shots in cfg["shots"]:
      for head in cfg["heads"]:
        for step in cfg["checkpoints"]:
          sa = report.per_seed(a, ds, "rule", shots, head, step)
          sb = report.per_seed(b, ds, "rule", shots, head, step)
          if not sa or not sb:
            continue  # a step beyond this data set's cap
          seeds = sorted(set(sa) & set(sb))
          ma, ea = mean_sem([sa[s] for s in seeds])
          mb, eb = mean_sem([sb[s] for s in seeds])
          d, de = report.paired(sa, sb)
          word = "wins" if d > 2 * de else "loses" if d < -2 * de else "level"
          lines.append(f"| {ds} | {shots} | {head} | {step} | {ma:.3f} ± {ea:.3f} | "
                       f"{mb:.3f} ± {eb:.3f} | {d:+.3f} ± {de:.3f} {word} |")
  return "\n".join(lines) + "\n"


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
    raise SystemExit("--names takes two names separated by a comma, e.g. --names=default,fmnist_relu")
  text = (f"Learned rule, `{args.a}` ({names[0]}) against `{args.b}` ({names[1]}); mean ± SE "
          f"over seeds, paired difference ('wins'/'loses': beyond 2 SE).\n\n" + table(*runs, names))
  print(text)
  if args.out:
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
  main()
