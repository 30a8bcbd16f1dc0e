"""The hand-designed local rules on held-out data (issue 28): every rule of `metaunsup.zoo`
and Oja's rule at the step size the sweep on meta-training data chose
(experiments/zoo/results/sweep.json, written by `python -m experiments.zoo.sweep`), with
k-means-32, ICA-32, PCA-32 and random init beside them, in eval_full.py's protocol (same
network, batch, seeds, labels and query): the learned rule and the VAE come from the
committed eval_full run, paired by seed (`python -m experiments.shared.paired_table zoo`).

  make evaluate CONFIG=experiments/zoo/configs/eval_zoo.py OUT=runs/eval_zoo
"""

import json
import pathlib

from metaunsup.configs import eval_full

SWEEP = pathlib.Path(__file__).parents[1] / "results" / "sweep.json"


def get_config():
  c = eval_full.get_config()
  # eval_full's image sets: the learned rule's results to pair with are there.
  c.datasets = tuple(d for d in c.datasets if d != "reuters")
  chosen = json.loads(SWEEP.read_text())["chosen"]
  zoo = sorted(k for k in chosen if k != "oja" and chosen[k] is not None)
  c.methods = ("random_init", *(f"local:{k}" for k in zoo), "oja", "kmeans", "ica", "pca")
  c.local_rules = {k: chosen[k] for k in zoo}
  c.oja.lr = chosen["oja"]["lr"]
  c.checkpoints = (0, 100, 1000, 10000)
  c.sweep.enabled = False
  return c
