"""The compact rule (`--config=compact`) meta-trained on a task family that spans
architectures (issue 35): depths 1-4, widths 64-512, every activation of the base network
drawn per task at each reset (so a bucket's tasks train relu, tanh, sigmoid and step networks
side by side), input sizes and permutations as the default family's. The compact rule
meta-trained on the default family (depths 1-2, widths 64-128, never tanh) left a deep tanh
network's features below random init; this family scores it there. Its validation curve
trains the same tasks on eval's network, a deep tanh network and a wide one."""

from metaunsup.base_model import ACTIVATIONS
from metaunsup.configs import compact


def get_config():
  """`--config=compact_arch`.

  Returns:
    A fresh ml_collections.ConfigDict: the compact config with the family and validation
    networks above.
  """
  c = compact.get_config()
  c.family.depths = (1, 2, 3, 4)
  c.family.widths = (64, 128, 256, 512)
  c.family.activations = tuple(ACTIVATIONS)
  c.family.activation_per_task = True
  c.family.num_buckets, c.family.tasks_per_bucket = 4, 3
  # Widths to 512 make an inner step about 10x the default family's: one antithetic pair per
  # task and half the forward-only steps keep a meta-step near 10 s on 2 cores.
  c.meta.es_pairs = 1
  c.inner.advance_steps = 40
  c.validation.every, c.validation.inner_steps = 25, (100, 1000)
  c.validation.networks = ("relu:64-64-32", "tanh:256-256-256-256-32", "leaky_relu:1024-32")
  return c
