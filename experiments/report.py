"""Markdown tables of a meta-training run's summary.json (the README's results come from it).

.venv/bin/python experiments/report.py runs/default
"""

import pathlib
import sys

from metaunsup.evaluation import mean_sem
from metaunsup.training.workdir import read_summary


def _rows(acc: dict) -> list[str]:
  lines = []
  for head, suffix in (("ridge", ""), ("logistic", "_logistic")):
    if f"fewshot_acc_rule{suffix}" not in acc:
      continue
    r, rs = acc[f"fewshot_acc_rule{suffix}"], acc[f"fewshot_acc_rule{suffix}_sem"]
    b, bs = acc[f"fewshot_acc_random_init{suffix}"], acc[f"fewshot_acc_random_init{suffix}_sem"]
    d, ds = mean_sem(
      [
        x - y
        for x, y in zip(
          acc[f"fewshot_acc_rule{suffix}_per_seed"],
          acc[f"fewshot_acc_random_init{suffix}_per_seed"],
        )
      ]
    )
    lines.append(
      f"| {head} | {r:.3f} ± {rs:.3f} | {b:.3f} ± {bs:.3f} | "
      f"{d:+.3f} ± {ds:.3f} ({d / ds:+.1f} SE) |"
    )
  return lines


def table(workdir: pathlib.Path) -> str:
  s = read_summary(workdir)
  ev, fam = s["config"]["eval"], s["config"]["family"]
  lines = [
    f"Meta-trained (seed {s['seed']}, {s['meta_steps']} meta-steps) on the train splits of "
    f"{', '.join(fam['datasets'])}; held out: {', '.join(fam['held_out'])}.",
    f"Evaluation: network {'-'.join(map(str, ev['widths']))} {ev['activation']} trained "
    f"{ev['inner_steps']} inner steps on the unlabeled train split, readout on the test "
    f"split ({ev['image_size']}x{ev['image_size']} images), "
    f"{s['config']['heads']['shots']} labels per class, query {ev['query_size']}, "
    f"{len(s['eval_seeds'])} seeds {s['eval_seeds']}. Mean ± standard error over seeds.",
  ]
  for name, acc in s["eval"].items():
    lines += [
      "",
      f"**{name}**",
      "",
      "| head | learned rule | random init | paired difference (same seed, same labels) |",
      "| --- | --- | --- | --- |",
    ] + _rows(acc)
  lines += [
    "",
    f"Meta-loss: first 10% of steps {s['meta_loss_first']:.3f}, "
    f"last 10% {s['meta_loss_last']:.3f}; skipped meta-gradients: "
    f"{s['skipped_meta_gradients']}. Data loading per meta-step: "
    f"{s['data_seconds_median']:.3f} s against {s['step_seconds_median']:.3f} s for "
    f"the step (median ratio {s['data_to_step_ratio']:.3f}).",
  ]
  return "\n".join(lines)


if __name__ == "__main__":
  try:
    print(table(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/default")))
  except (ValueError, FileNotFoundError) as e:  # a missing or damaged summary.json
    sys.exit(f"error: {e}")
