"""One data set, one architecture: Fashion-MNIST (train split) at 14x14, 64-64-32 relu, 8
tasks, no augmentation, 600 meta-steps (about 50 min on a 2-core CPU). This is the setting of
the earlier single-data-set default (commit 8a9f1a3), whose rule beat random init on the
held-out test split; it is the rule `make evaluate` is reported with (experiments/fmnist_relu/)."""

from metaunsup.configs.default import get_config as _default


def get_config():
  c = _default()
  c.family.datasets = ("fashion_mnist",)
  c.family.image_sizes = (14,)
  c.family.depths = (2,)
  c.family.widths = (64,)
  c.family.activations = ("relu",)
  c.family.num_buckets = 1
  c.family.tasks_per_bucket = 8
  c.family.augment = ()
  c.meta.steps = 600
  return c
