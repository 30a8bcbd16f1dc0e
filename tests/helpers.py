"""Shared test helpers: tiny configs and plumbing data. Test files import them with
`from helpers import ...` (tests/ is on sys.path: pytest's rootdir-relative import of
tests/conftest.py puts it there, for the files in tests/ and in its subfolders alike)."""
import pathlib
import struct

import jax
import numpy as np

from metaunsup import default_config, inner, rule


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


def tiny_config(**meta):
  """A meta-training config small enough for a test: digits 8x8, two buckets of two tasks,
  a tiny rule, 4 meta-steps; keyword arguments override fields of `meta`."""
  c = default_config.get_config()
  c.family.datasets, c.family.image_sizes = ("digits",), (8,)
  c.family.depths, c.family.widths, c.family.feature_width = (1,), (16,), 8
  c.family.num_buckets, c.family.tasks_per_bucket, c.family.batch_sizes = 2, 2, (32,)
  c.family.pool_per_class, c.family.activations = 32, ("relu", "tanh")
  c.rule.channels, c.rule.hidden, c.rule.readout_rank = 4, 8, 2
  c.inner.truncation_lengths = (2, 3)
  c.inner.min_total_steps, c.inner.max_total_steps, c.inner.reference_batch = 4, 10, 64
  c.meta.steps, c.meta.checkpoint_every = 4, 2
  c.eval.datasets, c.eval.image_size, c.eval.widths = ("digits",), 8, (16, 8)
  c.eval.num_seeds, c.eval.inner_steps, c.eval.query_size = 2, 3, 100
  c.eval.heads = ("ridge",)
  for k, v in meta.items():
    c.meta[k] = v
  return c


def read_scalars(logdir: pathlib.Path) -> dict:
  """{tag: {step: value}} from every event file under logdir (TFRecord framing: length,
  its CRC, the serialized Event, its CRC); later files override earlier ones."""
  from tensorboardX.proto import event_pb2
  out: dict = {}
  for f in sorted(logdir.rglob("events.out.tfevents.*")):
    buf = f.read_bytes()
    i = 0
    while i < len(buf):
      (n,) = struct.unpack("<Q", buf[i:i + 8])
      event = event_pb2.Event.FromString(buf[i + 12:i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        out.setdefault(v.tag, {})[event.step] = v.simple_value
  return out
