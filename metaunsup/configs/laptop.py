"""Meta-training sized for a laptop: a few minutes on 2 CPU cores, under 2 GB of memory,
the validation curve every 5 meta-steps. The compact rule (`metaunsup.rules.compact`) starts
from a random mix of the zoo's updates at a small step, where its features are random
init's, and PES (forward-only, so memory stays small) learns the mix on two buckets of small
networks over the default data sets: the curve shows a rule being learned, which a warm start
at a hand-designed rule would not. A demonstration of meta-training, not a rule to use (that
is the shipped one, `load_rule("pretrained")`).

  metaunsup.train_rule("laptop", "runs/laptop")
"""

from metaunsup.configs import compact


def get_config():
  """`--config=laptop`.

  Returns:
    A fresh ml_collections.ConfigDict: the compact config with the small family, the
    random start and the short run above.
  """
  c = compact.get_config()
  c.rule.init_lr = 0.02  # the mix's global step: features start at random init's
  c.meta.init_rule = ""
  c.family.image_sizes, c.family.widths, c.family.depths = (8, 14), (64,), (1, 2)
  c.family.num_buckets, c.family.tasks_per_bucket = 2, 2
  # Fashion-MNIST's 180 MiB (as float32) read by index each step, not held: 0.15 GiB less
  # at the peak (1.72 against 1.87 GiB over 6 meta-steps, every program compiled).
  c.family.cache_mb = 64.0
  c.inner.min_total_steps, c.inner.max_total_steps = 100, 1000
  # Four antithetic pairs: PES's estimate is noisy enough with two that 100 steps of it
  # barely move the curve (0.38 -> 0.41 against 0.38 -> 0.47 with four, seed 0).
  c.meta.es_pairs, c.meta.learning_rate = 4, 0.1
  c.meta.steps, c.meta.checkpoint_every = 100, 20
  c.validation.every, c.validation.inner_steps, c.validation.tasks_per_dataset = 5, (300,), 3
  c.eval.inner_steps, c.eval.num_seeds, c.eval.query_size = 300, 2, 500
  c.eval.heads = ("ridge",)
  return c
