"""The compact rule with a learned schedule, held out, in the protocol of the time-blind
compact rule's evaluation (experiments/compact/configs/eval_compact_full.py: MNIST and
Fashion-MNIST at 14x14, 28x28, permuted 14x14 and permuted 28x28, and Reuters; seeds 0-4;
1/5/10/50 labels per class; ridge and the logistic probe; 10^2, 10^3 and 10^4 inner steps),
with only the rule and random init run here: every other method (the time-blind compact
rule, Krotov-Hopfield, Oja, k-means-32, PCA-32, and from eval_full the VAE and supervised
training) is read from the committed runs and paired by seed
(`python -m experiments.shared.paired_table zoo`, which checks that random init agrees).

  make evaluate RULE=runs/time_aware CONFIG=experiments/time_aware/configs/eval_time_aware.py \
      OUT=runs/eval_time_aware
"""

from experiments.compact.configs import eval_compact_full


def get_config():
  c = eval_compact_full.get_config()
  c.methods = ("rule", "random_init")
  c.local_rules = {}
  return c
