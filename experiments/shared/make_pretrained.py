"""Copy a meta-trained rule into the package (metaunsup/pretrained/NAME.msgpack) and write
its provenance from the run's files and its `make evaluate` results, so that nothing in
provenance.json is typed by hand.

  python -m experiments.shared.make_pretrained --run=experiments/fmnist_relu/results/run \
      --eval=experiments/fmnist_relu/results/eval_full --name=fmnist_relu --commit=809f7cd
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil

from metaunsup import checkpointing
from metaunsup.evaluation import report
from metaunsup.training.workdir import read_summary

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[2] / "metaunsup" / "pretrained"
BASELINES = ("random_init", "vae", "supervised", "oja", "pca", "raw")


def _held_out_300(summary: dict) -> dict:
  """train.py's own held-out evaluation (ridge and logistic, rule and random init)."""
  keep = (
    "fewshot_acc_rule",
    "fewshot_acc_rule_sem",
    "fewshot_acc_random_init",
    "fewshot_acc_random_init_sem",
    "fewshot_acc_rule_logistic",
    "fewshot_acc_rule_logistic_sem",
    "fewshot_acc_random_init_logistic",
    "fewshot_acc_random_init_logistic_sem",
  )
  return {
    name: {k: round(v, 4) for k, v in e.items() if k in keep} for name, e in summary["eval"].items()
  }


def _against_baselines(results: dict) -> dict:
  """Per data set: the rule and each baseline at the report step (10 labels per class,
  ridge), and the paired difference with its verdict ('wins'/'level'/'loses' at 2 SE)."""
  shots, head = report.headline_shots(results), "ridge"
  out = {}
  for ds in results["config"]["datasets"]:
    rule_acc = report.per_seed(results, ds, "rule", shots, head)
    row = {
      "step": report.report_step(results, ds),
      "rule": round(sum(rule_acc.values()) / len(rule_acc), 4),
    }
    for m in BASELINES:
      other = report.per_seed(results, ds, m, shots, head)
      if other:
        d, s = report.paired(rule_acc, other)
        row[m] = {
          "difference": round(d, 4),
          "sem": round(s, 4),
          "verdict": report.verdict(d, s).strip("*"),
        }
    out[ds] = row
  return out


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--run", required=True, help="meta-training workdir (rule.msgpack, summary.json)")
  ap.add_argument("--eval", required=True, help="`make evaluate` OUT folder (results.json)")
  ap.add_argument("--name", required=True)
  ap.add_argument("--commit", required=True, help="the commit whose code trained the rule")
  ap.add_argument("--hardware", default="this project's 2-core CPU, shared with other jobs")
  ap.add_argument("--note", default="")
  args = ap.parse_args(argv)
  run, ev = pathlib.Path(args.run), pathlib.Path(args.eval)
  summary = read_summary(run)
  metrics = [
    checkpointing.nan_for_null(json.loads(l), keep=())
    for l in (run / "metrics.jsonl").read_text().splitlines()
    if l
  ]
  results = checkpointing.read_json(ev / "results.json", "rerun `make evaluate` on the rule")
  _, _, meta = checkpointing.load_rule_file(run / "rule.msgpack")

  PACKAGE_DIR.mkdir(exist_ok=True)
  shutil.copyfile(run / "rule.msgpack", PACKAGE_DIR / f"{args.name}.msgpack")
  prov_file = PACKAGE_DIR / "provenance.json"
  prov = json.loads(prov_file.read_text()) if prov_file.exists() else {}
  prov[args.name] = {
    "note": args.note,
    "source": str(run / "rule.msgpack"),
    "commit": args.commit,
    "seed": summary["seed"],
    "meta_steps": summary["meta_steps"],
    "rule_meta": meta,
    "hardware": args.hardware,
    "hours": round(metrics[-1]["seconds"] / 3600, 2),
    "meta_loss_first_last": [
      round(summary["meta_loss_first"], 4),
      round(summary["meta_loss_last"], 4),
    ],
    "query_accuracy_last_50": round(sum(r["query_accuracy"] for r in metrics[-50:]) / 50, 4),
    "config": json.loads((run / "config.json").read_text()),
    "eval_train_py": {
      "what": "64-64-32 relu, 300 inner steps on each held-out train split, "
      "10 labels per class, test-split readout, seeds "
      f"{summary['eval_seeds']}, mean and SE",
      "datasets": _held_out_300(summary),
    },
    "eval_baselines": {
      "source": str(ev / "results.json"),
      "config": results["config"],
      "what": "make evaluate: paired differences rule minus each baseline, "
      "10 labels per class, ridge head, 5 seeds, 'wins'/'loses' "
      "beyond 2 SE",
      "datasets": _against_baselines(results),
    },
  }
  prov_file.write_text(checkpointing.dumps(prov, indent=1, sort_keys=True) + "\n")
  print(f"wrote {PACKAGE_DIR / (args.name + '.msgpack')} and {prov_file}")


if __name__ == "__main__":
  main()
