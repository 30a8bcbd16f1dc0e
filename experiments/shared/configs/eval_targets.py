"""The default run's targets (issue 16, item 2): the rule against random init and Oja's rule
on held-out Fashion-MNIST (test split) and MNIST at 14x14, 64-64-32 relu, 10 labels per
class, ridge, 5 seeds, at 300 and 3000 inner steps. About 20 min per rule on a 2-core CPU.

  python -m metaunsup.evaluation --rule=runs/default \
      --config=experiments/shared/configs/eval_targets.py --out=OUT
"""

from metaunsup.configs import eval_full


def get_config():
  c = eval_full.get_config()
  c.datasets = ("fashion_mnist@14", "mnist@14")
  c.methods = ("rule", "random_init", "oja")
  c.checkpoints = (0, 300, 3000)
  c.shots = (10,)
  c.heads = ("ridge",)
  c.sweep.enabled = False
  return c
