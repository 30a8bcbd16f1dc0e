"""A meta-trained rule on every held-out setting issue 29's targets name, in eval_full.py's
protocol (network, batch, seeds, labels, query; 10^2 to 10^4 inner steps, ridge and the
logistic probe): MNIST and Fashion-MNIST at 14x14, 28x28, permuted 14x14 and permuted
28x28, and Reuters; beside it random init, Oja, Krotov-Hopfield (the strongest hand-designed
rule, at the lr the zoo sweep chose on meta-training data), k-means-32 and PCA-32. The VAE
and supervised training come from the committed eval_full run, paired by seed
(`python -m experiments.shared.paired_table zoo`), on the settings it has.

  make evaluate RULE=runs/compact_pes CONFIG=experiments/compact/configs/eval_compact_full.py \
      OUT=runs/eval_compact_full
"""

from experiments.zoo.configs import eval_zoo
from metaunsup.configs import eval_full


def get_config():
  c = eval_zoo.get_config()
  image_sets = tuple(d for d in eval_full.get_config().datasets if d != "reuters")
  c.datasets = (*image_sets, "fashion_mnist@28+perm", "mnist@28+perm", "reuters")
  c.methods = ("rule", "random_init", "oja", "local:krotov_hopfield", "kmeans", "pca")
  c.local_rules = {"krotov_hopfield": c.local_rules["krotov_hopfield"]}
  return c
