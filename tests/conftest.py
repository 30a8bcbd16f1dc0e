import os

# The suite's time on CPU is mostly XLA compiling many small programs. LLVM's optimisation
# level changes how fast the machine code runs; results agree to float rounding.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import numpy as np
import pytest

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


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
