"""Why the default task family barely learns: short meta-training runs, one change each from
the default config, with the same seed and budget; the family's own query accuracy over the
run and held-out accuracy (the default evaluation) of each rule.

  .venv/bin/python -m experiments.family_ablation.ablate_family --steps=150 --out=runs/ablate_family
  .venv/bin/python -m experiments.family_ablation.ablate_family --only=default,relu_only

Each variant is a meta-training workdir under OUT (rerunning resumes or skips finished ones);
OUT/results.{json,md} gather them. The table compares query accuracy within a run (first vs
last 30 meta-steps): a family whose tasks differ has different query accuracies, so across
variants only the held-out columns are comparable.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time

import numpy as np

from metaunsup import checkpointing, evaluation, train
from metaunsup.configs import default as default_config
from metaunsup.training.workdir import read_summary

# name -> (what changes, overrides as {section: {field: value}})
VARIANTS = {
  "augment": (
    "augmentation targets on (the default before commit 53ba9c1)",
    {"family": {"augment": ("shift", "rotation", "noise")}},
  ),
  "default": ("the default family (no augmentation targets)", {}),
  "fmnist_only": ("Fashion-MNIST train split only", {"family": {"datasets": ("fashion_mnist",)}}),
  "no_alphabet": (
    "without alphabet (10 of 62 classes)",
    {"family": {"datasets": ("fashion_mnist", "digits", "mnist1d")}},
  ),
  "relu_only": ("relu only", {"family": {"activations": ("relu",)}}),
  "meta_lr_1e-3": ("meta learning rate 1e-3 (3e-3)", {"meta": {"learning_rate": 1e-3}}),
  "tasks_6": ("6 tasks per bucket (3)", {"family": {"tasks_per_bucket": 6}}),
  "fmnist_relu": (
    "Fashion-MNIST only, relu only",
    {"family": {"datasets": ("fashion_mnist",), "activations": ("relu",)}},
  ),
}

WINDOW = 30  # meta-steps averaged at each end of a run


def variant_config(name: str, steps: int, seed: int):
  config = default_config.get_config()
  for section, fields in VARIANTS[name][1].items():
    for field, value in fields.items():
      config[section][field] = value
  config.meta.steps = steps
  config.meta.checkpoint_every = 25
  config.seed = seed
  return config


def row(name: str, workdir: pathlib.Path, minutes: float) -> dict:
  metrics = [
    checkpointing.nan_for_null(json.loads(line), keep=())
    for line in (workdir / "metrics.jsonl").read_text().splitlines()
  ]
  summary = read_summary(workdir)
  acc = [m["query_accuracy"] for m in metrics]
  out = {
    "variant": name,
    "change": VARIANTS[name][0],
    "meta_steps": len(metrics),
    "query_acc_first": float(np.mean(acc[:WINDOW])),
    "query_acc_last": float(np.mean(acc[-WINDOW:])),
    "meta_loss_first": float(np.mean([m["meta_loss"] for m in metrics[:WINDOW]])),
    "meta_loss_last": float(np.mean([m["meta_loss"] for m in metrics[-WINDOW:]])),
    "wall_minutes": round(minutes, 1),
    "held_out": {},
  }
  for data_name, e in summary["eval"].items():
    diff = [
      r - b for r, b in zip(e["fewshot_acc_rule_per_seed"], e["fewshot_acc_random_init_per_seed"])
    ]
    d, d_se = evaluation.mean_sem(diff)
    out["held_out"][data_name] = {
      "rule": e["fewshot_acc_rule"],
      "rule_sem": e["fewshot_acc_rule_sem"],
      "random_init": e["fewshot_acc_random_init"],
      "diff": d,
      "diff_sem": d_se,
    }
  return out


def markdown(rows: list[dict], steps: int, seed: int) -> str:
  names = list(rows[0]["held_out"]) if rows else []
  head = (
    "| variant | change | query acc first → last 30 steps | meta-loss first → last | "
    + " | ".join(f"{n} rule (− random init)" for n in names)
    + " | minutes |"
  )
  lines = [
    f"Seed {seed}, {steps} meta-steps each, default config otherwise; held out: the "
    "default evaluation (64-64-32 relu, 300 inner steps, 10 labels per class, ridge, "
    "5 seeds, mean ± SE, paired difference with random init).",
    "",
    head,
    "| " + " | ".join(["---"] * (5 + len(names))) + " |",
  ]
  for r in rows:
    cells = [
      f"{h['rule']:.3f} ± {h['rule_sem']:.3f} ({h['diff']:+.3f} ± {h['diff_sem']:.3f})"
      for h in r["held_out"].values()
    ]
    lines.append(
      f"| {r['variant']} | {r['change']} | {r['query_acc_first']:.3f} → "
      f"{r['query_acc_last']:.3f} | {r['meta_loss_first']:.2f} → "
      f"{r['meta_loss_last']:.2f} | " + " | ".join(cells) + f" | {r['wall_minutes']} |"
    )
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=150)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="runs/ablate_family")
  parser.add_argument("--only", default="", help="comma-separated variant names")
  args = parser.parse_args()
  names = [n for n in args.only.split(",") if n] or list(VARIANTS)
  unknown = sorted(set(names) - set(VARIANTS))
  if unknown:
    raise SystemExit(f"error: unknown variants {unknown}; choose from {sorted(VARIANTS)}")
  out = pathlib.Path(args.out)
  results_path = out / "results.json"
  done = (
    checkpointing.read_json(results_path, "delete it to run every variant again")["rows"]
    if results_path.exists()
    else []
  )
  rows = {r["variant"]: r for r in done}
  for name in names:
    if name in rows:
      continue
    workdir = out / name
    t0 = time.time()
    train.train_and_evaluate(variant_config(name, args.steps, args.seed), workdir)
    rows[name] = row(name, workdir, (time.time() - t0) / 60)
    ordered = [rows[n] for n in VARIANTS if n in rows]
    results = {
      "steps": args.steps,
      "seed": args.seed,
      "rows": ordered,
      "hardware": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
      "command": "python -m experiments.family_ablation.ablate_family "
      f"--steps={args.steps} --seed={args.seed}",
    }
    out.mkdir(parents=True, exist_ok=True)
    checkpointing.atomic_write_bytes(results_path, checkpointing.dumps(results, indent=1).encode())
    (out / "results.md").write_text(markdown(ordered, args.steps, args.seed))
    print(markdown(ordered, args.steps, args.seed), flush=True)


if __name__ == "__main__":
  main()
