"""The whole evaluation pipeline, small enough for CI (about two minutes on a 2-core CPU):
every method, file and figure of eval_full.py, on fewer data sets, seeds and steps. Its
numbers are a smoke check, not results."""

from metaunsup.configs import eval_full


def get_config():
  """`--config=eval_quick`.

  Returns:
    A fresh ml_collections.ConfigDict: eval_full's, on the small data sets, seeds and
    steps above.
  """
  c = eval_full.get_config()
  c.datasets = ("digits@8", "reuters")
  c.checkpoints = (0, 10, 100)
  c.shots = (1, 10)
  c.num_seeds = 2
  c.query_size = 300
  c.reference_batch = 256
  c.supervised.steps = 100
  c.sweep.dataset = "digits@8"
  c.sweep.update(steps=20, num_seeds=2, widths=(32, 128), depths=(3,), activations=("step",))
  return c
