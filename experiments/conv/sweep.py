"""The learning-rate sweep of the hand-designed rules on the conv network (issue 38), on
meta-training data only: experiments/zoo/sweep.py's protocol (Fashion-MNIST's and the
alphabet's train splits at 14x14, 80% unlabeled, 10-shot ridge on the other 20%, seeds 0
and 1, the grid of the rule's default times 1/9 .. 9, extended past an end) with the conv
network of `metaunsup.configs.conv` ("conv5x5:16 pool2 conv3x3:32 pool2 dense:32", relu,
batch 32) trained by `metaunsup.conv.apply_rule`, at 10^2 and 10^3 inner steps. A rule's lr
is the one with the best mean over both data sets, both seeds and both counts; the conv
evaluation (experiments/conv/evaluate.py) uses it, and `metaunsup.configs.conv` warm-starts
the compact rule at Krotov-Hopfield's.

  python -m experiments.conv.sweep --out experiments/conv/results   # ~5 min on 2 cores
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import metaunsup
from experiments.zoo import sweep as zoo_sweep
from metaunsup import conv, data, local_rule
from metaunsup.configs import conv as conv_config

RULES = ("krotov_hopfield", "softhebb", "competitive")
STEPS = (100, 1000)
SEEDS = (0, 1)
LAYERS = tuple(conv_config.NETWORK.split())
NETWORK = dict(layers=LAYERS, activation="relu", batch_size=32)


def score(kind: str, lr: float, ds: data.Dataset, seed: int) -> dict:
  """10-shot ridge accuracy on the validation split after each of STEPS inner steps."""
  rule = metaunsup.Rule(theta={}, config=local_rule.rule_class(kind)(lr=lr))
  side = zoo_sweep.IMAGE_SIZE
  unlabeled, xs, ys, xq, yq = (
    a.reshape(-1, side, side, 1) if a.ndim == 2 else a for a in zoo_sweep.validation_split(ds, seed)
  )
  out = {}
  for steps in STEPS:
    # data.load standardised them already; doing it again would move the sweep's floats
    model = conv.apply_rule(rule, unlabeled, steps=steps, seed=seed, standardize=False, **NETWORK)
    fs, fq = model.features(xs), model.features(xq)
    out[steps] = (
      float(metaunsup.fewshot_accuracy(fs, ys, fq, yq, head="ridge"))
      if np.all(np.isfinite(fs)) and np.all(np.isfinite(fq))
      else float("nan")
    )
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="experiments/conv/results")
  parser.add_argument("--rules", nargs="*", default=list(RULES))
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  sets = {name: data.load(name, zoo_sweep.IMAGE_SIZE) for name in zoo_sweep.DATASETS}
  t0 = time.time()
  rows, chosen = zoo_sweep.sweep_rules(args.rules, score, sets, SEEDS, STEPS)
  result = {
    "protocol": __doc__.split("\n\n")[0],
    "datasets": list(zoo_sweep.DATASETS),
    "steps": list(STEPS),
    "seeds": list(SEEDS),
    "network": {**NETWORK, "layers": list(LAYERS)},
    "image_size": zoo_sweep.IMAGE_SIZE,
    "rows": rows,
    "chosen": chosen,
    "seconds": round(time.time() - t0, 1),
  }
  head = [
    "# Learning-rate sweep of the hand-designed rules on the conv network (meta-training data)",
    "",
    f"Command: `python -m experiments.conv.sweep --out {args.out}`; "
    f"{result['seconds'] / 60:.1f} min. Network {' '.join(LAYERS)}, relu, batch 32, 14x14. "
    f"Mean 10-shot ridge accuracy on the train splits' validation part, seeds {list(SEEDS)}.",
  ]
  zoo_sweep.write(out, result, head, zoo_sweep.DATASETS, STEPS)


if __name__ == "__main__":
  main()
