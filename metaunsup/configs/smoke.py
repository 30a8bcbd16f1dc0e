"""A run that exercises every stage of meta-training in about a minute: two buckets over
scikit-learn's digits and MNIST-1D, tiny networks, a few steps."""

from metaunsup.configs import default


def get_config():
  """`--config=smoke`.

  Returns:
    A fresh ml_collections.ConfigDict: the default one with the tiny family, rule and
    run above.
  """
  c = default.get_config()
  c.family.datasets, c.family.image_sizes = ("digits", "mnist1d"), (8,)
  c.family.depths, c.family.widths, c.family.feature_width = (1,), (32,), 16
  c.family.num_buckets, c.family.tasks_per_bucket, c.family.batch_sizes = 2, 2, (32,)
  c.family.pool_per_class = 32
  c.rule.channels, c.rule.hidden = 4, 8
  c.inner.truncation_lengths = (3,)
  c.inner.min_total_steps, c.inner.max_total_steps, c.inner.reference_batch = 4, 8, 64
  c.meta.steps, c.meta.checkpoint_every = 6, 3
  c.eval.datasets, c.eval.image_size, c.eval.widths = ("digits",), 8, (32, 16)
  c.eval.num_seeds, c.eval.inner_steps, c.eval.query_size = 2, 5, 200
  c.eval.heads = ("ridge",)
  c.validation.every, c.validation.inner_steps = 3, (5, 10)
  return c
