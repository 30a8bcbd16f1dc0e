"""An unfinished `make evaluate` run read from its stored pieces (OUT/partial/<fingerprint>/):
for every data set whose seeds are all done, the rule against each baseline at the given
inner steps (10 labels per class, ridge head, paired over seeds). The finished run's
results.md says the same and more; this is for a long evaluation stopped part way (it
resumes from the same pieces when rerun with the same --rule, --config and --out).

  python -m experiments.partial_eval runs/eval_full_default \
      --out=experiments/results/default/eval_full_partial.md
"""

from __future__ import annotations

import argparse
import json
import pathlib

from metaunsup.evaluation import report
from metaunsup.evaluation.stats import mean_sem

BASELINES = ("random_init", "vae", "supervised", "oja", "pca", "raw")


def read_records(out: pathlib.Path) -> list[dict]:
  folders = sorted((out / "partial").iterdir()) if (out / "partial").is_dir() else []
  if len(folders) != 1:
    raise SystemExit(f"{out / 'partial'} should hold one evaluation's pieces, found {len(folders)}")
  records = []
  for piece in sorted(folders[0].glob("*.json")):
    # Sweep pieces hold records of the sweep's networks on the same data set and seeds:
    # read with the rest, they would replace the protocol network's cells.
    records += [r for r in json.loads(piece.read_text()).get("records", []) if "sweep" not in r]
  return records


def table(
  records: list[dict], steps: tuple[int, ...], seeds: int, shots: int = 10, head: str = "ridge"
) -> str:
  results = {"records": records}
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
      m, e = mean_sem(list(rule.values()))
      cells = []
      for method in methods:
        other = report.per_seed(results, ds, method, shots, head, step)
        d, se = report.paired(rule, other)
        om, _ = mean_sem(list(other.values()))
        cells.append(f"{d:+.3f} ± {se:.3f} {report.verdict(d, se)} ({om:.3f})")
      lines.append(f"| {ds} | {step} | {m:.3f} ± {e:.3f} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("run", help="the evaluation's --out folder")
  p.add_argument("--steps", default="100,300,1000,3000,10000")
  p.add_argument("--seeds", type=int, default=5, help="seeds a data set needs to be shown")
  p.add_argument("--out", default=None)
  args = p.parse_args()
  records = read_records(pathlib.Path(args.run))
  text = (
    f"Finished data sets of `{args.run}` (partial pieces), {10} labels per class, ridge; "
    "rule mean ± SE over seeds, paired differences (in brackets: the baseline's mean; "
    "'wins'/'loses': beyond 2 SE).\n\n"
    + table(records, tuple(int(s) for s in args.steps.split(",")), args.seeds)
  )
  print(text)
  if args.out:
    pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
  main()
