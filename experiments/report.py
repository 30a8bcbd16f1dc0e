"""Markdown table of a meta-training run's summary.json (the README's results come from it).

  .venv/bin/python experiments/report.py runs/default
"""
import json
import pathlib
import sys

from metaunsup.evaluation import mean_sem


def table(workdir: pathlib.Path) -> str:
  s = json.loads((workdir / "summary.json").read_text())
  ev = s["config"]["eval"]
  model = s["config"]["model"]
  widths = ev["widths"] or model["widths"]
  lines = [
      f"Data: {s['data']} (unlabeled train split for the rule; readout on the test split), "
      f"network {'-'.join(map(str, widths))} {model['activation']}, "
      f"{ev['inner_steps']} inner steps, {s['config']['heads']['shots']} labels per class, "
      f"query {ev['query_size']}, {len(s['eval_seeds'])} seeds {s['eval_seeds']}; "
      f"meta-training seed {s['seed']}, {s['meta_steps']} meta-steps.",
      "Accuracies are mean ± standard error over seeds.",
      "",
      "| head | learned rule | random init | paired difference (same seed, same labels) |",
      "| --- | --- | --- | --- |",
  ]
  for head, suffix in (("ridge", ""), ("logistic", "_logistic")):
    if f"fewshot_acc_rule{suffix}" not in s:
      continue
    r, rs = s[f"fewshot_acc_rule{suffix}"], s[f"fewshot_acc_rule{suffix}_sem"]
    b, bs = s[f"fewshot_acc_random_init{suffix}"], s[f"fewshot_acc_random_init{suffix}_sem"]
    diffs = [x - y for x, y in zip(s[f"fewshot_acc_rule{suffix}_per_seed"],
                                   s[f"fewshot_acc_random_init{suffix}_per_seed"])]
    d, ds = mean_sem(diffs)
    lines.append(f"| {head} | {r:.3f} ± {rs:.3f} | {b:.3f} ± {bs:.3f} | "
                 f"{d:+.3f} ± {ds:.3f} ({d / ds:+.1f} SE) |")
  lines += ["", f"Meta-loss: first 10% of steps {s['meta_loss_first']:.3f}, "
            f"last 10% {s['meta_loss_last']:.3f}; skipped meta-gradients: "
            f"{s['skipped_meta_gradients']}."]
  return "\n".join(lines)


if __name__ == "__main__":
  print(table(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/default")))
