"""Shared test helpers: tiny configs and plumbing data. Test files import them with
`from helpers import ...` (tests/ is on sys.path: pytest's rootdir-relative import of
tests/conftest.py puts it there, for the files in tests/ and in its subfolders alike)."""
import jax
import numpy as np

from metaunsup import inner, rule


def tiny_rule_config(**kw) -> rule.RuleConfig:
  return rule.RuleConfig(**{"channels": 3, "hidden": 4, "readout_rank": 2, **kw})


def tiny_inner_config(**kw) -> inner.InnerConfig:
  base = dict(rule=tiny_rule_config(), widths=(7, 6, 5), activation="tanh", batch_size=8,
              shots=2, query_per_class=2, num_classes=3, reference_batch=8,
              min_total_steps=3, max_total_steps=6)
  base.update(kw)
  return inner.InnerConfig(**base)


def synthetic_task_data(num_classes=3, dim=10, n=60, seed=0) -> inner.TaskData:
  """Plumbing data only (class-dependent Gaussian blobs); never evidence of learning."""
  rng = np.random.default_rng(seed)
  y = np.arange(n) % num_classes
  x = rng.normal(size=(n, dim)) + 2.0 * rng.normal(size=(num_classes, dim))[y]
  return inner.make_task_data(x.astype(np.float32), y, num_classes)


def per_task(data: inner.TaskData, num_tasks: int) -> inner.TaskData:
  """The same data for every task (the estimator reads one TaskData per task)."""
  return jax.tree_util.tree_map(lambda a: jax.numpy.broadcast_to(a, (num_tasks,) + a.shape),
                                data)
