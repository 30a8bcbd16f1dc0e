"""Does a rule decay past the horizon it was meta-trained on? Reads `make evaluate` runs of
experiments/configs/eval_horizon.py restricted to MNIST 14x14 (one per rule, methods
("rule",), and one with methods ("vae", "random_init")), and writes each rule's accuracy at
300, 10^3 and 10^4 inner steps, its change from its own value at 300 and its paired
difference with the VAE and random init (same seeds: same networks, labels and query).

  for r in default:experiments/results/default pretrained:pretrained; do
    python -m metaunsup.evaluation --rule=${r#*:} --config=experiments/configs/eval_horizon.py \\
        --config.datasets='("mnist@14",)' --config.methods='("rule",)' --out=OUT/${r%%:*}
  done
  python -m metaunsup.evaluation --rule=pretrained --config=experiments/configs/eval_horizon.py \\
      --config.datasets='("mnist@14",)' --config.methods='("vae","random_init")' --out=OUT/vae
  python -m experiments.horizon_probe OUT --rules=default,pretrained
"""

from __future__ import annotations

import argparse
import json
import pathlib

from metaunsup.evaluation import report
from metaunsup.evaluation.stats import mean_sem

DATA, SHOTS, HEAD, STEPS = "mnist@14", 10, "ridge", (300, 1000, 10000)


def table(out: pathlib.Path, rules: list[str]) -> str:
  baselines = json.loads((out / "vae" / "results.json").read_text())
  lines = [
    "| rule | inner steps | accuracy | − its value at 300 | − VAE (paired) | "
    "− random init (paired) |",
    "| --- | --- | --- | --- | --- | --- |",
  ]
  for name in rules:
    r = json.loads((out / name / "results.json").read_text())
    at300 = report.per_seed(r, DATA, "rule", SHOTS, HEAD, 300)
    for step in STEPS:
      acc = report.per_seed(r, DATA, "rule", SHOTS, HEAD, step)
      m, e = mean_sem(list(acc.values()))
      cells = [f"{m:.3f} ± {e:.3f}"]
      if step == 300:
        cells.append("")
      else:
        d, se = report.paired(acc, at300)
        cells.append(f"{d:+.3f} ± {se:.3f} {report.verdict(d, se)}")
      for method in ("vae", "random_init"):
        d, se = report.paired(acc, report.per_seed(baselines, DATA, method, SHOTS, HEAD, step))
        cells.append(f"{d:+.3f} ± {se:.3f} {report.verdict(d, se)}")
      lines.append(f"| {name} | {step} | " + " | ".join(cells) + " |")
  for method in ("vae", "random_init"):
    for step in STEPS:
      m, e = mean_sem(list(report.per_seed(baselines, DATA, method, SHOTS, HEAD, step).values()))
      lines.append(f"| ({method}) | {step} | {m:.3f} ± {e:.3f} | | | |")
  return "\n".join(lines) + "\n"


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("out", help="folder holding one evaluation folder per rule and vae/")
  p.add_argument("--rules", default="default,pretrained")
  args = p.parse_args()
  out = pathlib.Path(args.out)
  for name in args.rules.split(",") + ["vae"]:
    if not (out / name / "results.json").is_file():
      raise SystemExit(
        f"{out / name / 'results.json'} not found: run the evaluations in "
        "this script's docstring first"
      )
  text = (
    f"MNIST 14x14 (held out), 64-64-32 relu, {SHOTS} labels per class, {HEAD}, 5 seeds; "
    "mean ± SE, paired differences ('wins'/'loses': beyond 2 SE).\n\n"
    + table(out, args.rules.split(","))
  )
  print(text)
  (out / "results.md").write_text(text)


if __name__ == "__main__":
  main()
