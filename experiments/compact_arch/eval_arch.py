"""Rules on networks they were not evaluated on (issue 35): every cell of
experiments/compact_arch/configs/eval_arch.py for each rule, then one table of every rule,
Krotov-Hopfield and random init, paired by seed (the same seed fixes the network init, batches,
labels and query in every run: the random-init cells of two runs are identical, which the
table checks).

  python -m experiments.compact_arch.eval_arch run --rule=runs/compact_arch --name=compact_arch \
      --out=runs/eval_arch [--cells=tanh_4x512_m28perm,...]
  python -m experiments.compact_arch.eval_arch run --rule=pretrained --name=family --rule-only ...
  python -m experiments.compact_arch.eval_arch table --out=runs/eval_arch \
      --names=compact_arch,compact,family > experiments/compact_arch/results/arch_table.md
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from experiments.compact_arch.configs import eval_arch
from metaunsup.evaluation import pipeline, report
from metaunsup.evaluation.stats import mean_sem


def run(rule: str, name: str, out: pathlib.Path, cells, rule_only: bool) -> None:
  for cell in cells:
    t0 = time.time()
    config = eval_arch.get_config(cell + ("/rule" if rule_only else ""))
    pipeline.run(rule, config, str(out / name / cell), log=lambda *_: None)
    print(f"{name} {cell}: {time.time() - t0:.0f} s", flush=True)


def _cell(results: dict, method: str, step: int) -> dict:
  spec = results["config"]["datasets"][0]
  return report.per_seed(results, spec, method, 10, "ridge", step)


def table(out: pathlib.Path, names: list[str]) -> str:
  """Markdown: per cell and inner steps, each rule's mean ± SE, random init's and KH's (from
  the first-named rule's run, which has them), and each rule minus random init and minus the
  last-named rule (paired by seed, verdict beyond 2 SE). Cells some rule lacks are left out."""
  ref = names[-1]
  columns = (
    ["cell", "data", "network", "steps", "random init", "Krotov-Hopfield", *names]
    + [f"{n} − random init" for n in names]
    + [f"{n} − {ref}" for n in names[:-1]]
  )
  lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(["---"] * len(columns)) + " |"]
  for cell, (spec, widths, act, checkpoints) in eval_arch.CELLS.items():
    runs = {}
    for n in names:
      f = out / n / cell / "results.json"
      if f.exists():
        runs[n] = json.loads(f.read_text())
    if len(runs) < len(names):
      continue
    first = runs[names[0]]
    for n, r in runs.items():  # paired by seed: the same seeds (init, labels, query) in every run
      assert r["seeds"] == first["seeds"], (cell, n)
    for step in checkpoints[1:]:
      rand = _cell(first, "random_init", step)
      kh = _cell(first, "local:krotov_hopfield", step)
      rules = {n: _cell(r, "rule", step) for n, r in runs.items()}

      def fmt(d):
        m, e = mean_sem(list(d.values()))
        return f"{m:.3f} ± {e:.3f}"

      def diff(a, b):
        d, e = report.paired(a, b)
        return f"{d:+.3f} ± {e:.3f} {report.verdict(d, e)}"

      net = f"{act} {'-'.join(map(str, widths))}"
      cells = (
        [cell, spec, net, str(step), fmt(rand), fmt(kh)]
        + [fmt(rules[n]) for n in names]
        + [diff(rules[n], rand) for n in names]
        + [diff(rules[n], rules[ref]) for n in names[:-1]]
      )
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("what", choices=("run", "table"))
  p.add_argument("--rule")
  p.add_argument("--name")
  p.add_argument("--names", default="")
  p.add_argument("--out", default="runs/eval_arch")
  p.add_argument("--cells", default=",".join(eval_arch.CELLS))
  p.add_argument("--rule-only", action="store_true", help="no random init or Krotov-Hopfield")
  a = p.parse_args()
  out = pathlib.Path(a.out)
  if a.what == "run":
    run(a.rule, a.name, out, [c for c in a.cells.split(",") if c], a.rule_only)
  else:
    print(table(out, a.names.split(",")), end="")


if __name__ == "__main__":
  np.set_printoptions(precision=3)
  main()
