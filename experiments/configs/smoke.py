"""A run that exercises every stage of meta-training in about a minute."""
from metaunsup import default_config as default


def get_config():
  c = default.get_config()
  c.model.widths = (32, 32)
  c.rule.channels, c.rule.hidden = 4, 8
  c.inner.num_tasks, c.inner.batch_size, c.inner.truncation_lengths = 2, 32, (3,)
  c.inner.min_total_steps, c.inner.max_total_steps, c.inner.reference_batch = 4, 8, 64
  c.meta.steps, c.meta.checkpoint_every = 6, 3
  c.eval.num_seeds, c.eval.inner_steps, c.eval.query_size = 2, 5, 200
  c.eval.heads = ("ridge",)
  return c
