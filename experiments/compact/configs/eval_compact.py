"""A meta-trained rule against the strongest hand-designed rule held out (issue 29): the rule
(`--rule`), Krotov-Hopfield at the lr the zoo sweep chose on meta-training data, PCA-32,
k-means-32 and random init, in eval_zoo.py's protocol (eval_full's network, batch, seeds,
labels and query; 10^2 to 10^4 inner steps) on held-out MNIST and Fashion-MNIST at 14x14,
every method in one run, so every comparison is paired by seed.

  make evaluate RULE=runs/compact_pes CONFIG=experiments/compact/configs/eval_compact.py \
      OUT=runs/eval_compact
"""

from experiments.zoo.configs import eval_zoo


def get_config():
  c = eval_zoo.get_config()
  c.datasets = ("fashion_mnist@14", "mnist@14")
  c.methods = ("rule", "random_init", "local:krotov_hopfield", "kmeans", "pca")
  c.local_rules = {"krotov_hopfield": c.local_rules["krotov_hopfield"]}
  c.heads = ("ridge",)
  return c
