"""Issue 15's evaluation: does the rule decay past the horizon it was meta-trained on? The
rule, random init and the VAE on held-out Fashion-MNIST (test split) 14x14 and MNIST 14x14 and
28x28, 64-64-32 relu, 10 labels per class, ridge, 5 seeds, at 300, 10^3 and 10^4 inner steps.

  python -m metaunsup.evaluation --rule=runs/horizon_long \
      --config=experiments/horizon/configs/eval_horizon.py --out=runs/eval_horizon_long
  python -m experiments.shared.paired_table rules runs/eval_horizon_long \
      runs/eval_horizon_baseline --names=long,baseline

A quicker probe: --config.datasets='("mnist@14",)' --config.methods='("rule",)'.
"""

from experiments.shared.configs import eval_targets


def get_config():
  c = eval_targets.get_config()  # its labels, head and no sweeps; other data, methods, steps
  c.datasets = ("fashion_mnist@14", "mnist@14", "mnist@28")
  c.methods = ("rule", "random_init", "vae")
  c.checkpoints = (300, 1000, 10000)
  return c
