"""Shared test helpers: tiny configs and plumbing data. Test files import them with
`from helpers import ...` (tests/ is on sys.path: pytest's rootdir-relative import of
tests/conftest.py puts it there, for the files in tests/ and in its subfolders alike)."""

import pathlib
import struct

import jax
import numpy as np

from metaunsup import inner
from metaunsup.configs import default as default_config
from metaunsup.rules import compact, learned


def tiny_rule_config(**kw) -> learned.LearnedRule:
  return learned.LearnedRule(**{"channels": 3, "hidden": 4, "readout_rank": 2, **kw})


def tiny_inner_config(**kw) -> inner.InnerConfig:
  base = dict(
    rule=tiny_rule_config(),
    widths=(7, 6, 5),
    activation="tanh",
    batch_size=8,
    shots=2,
    query_per_class=2,
    num_classes=3,
    reference_batch=8,
    min_total_steps=3,
    max_total_steps=6,
  )
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
  return jax.tree_util.tree_map(lambda a: jax.numpy.broadcast_to(a, (num_tasks,) + a.shape), data)


# The cheapest rule with a meta-gradient, for tests of machinery that every rule goes through
# the same way (remat, resume, sharding, estimators, compile counts): one compact-rule term.
# Its meta-gradient program compiles about 5x faster than the tiny learned rule's (4 s
# against 22 s for the same 2-task, 2-step truncation on this project's 2-core CPU).
MECHANISM_RULE = {"kind": "compact", "terms": ("oja",)}


def mechanism_rule() -> compact.CompactRule:
  """MECHANISM_RULE as a rule config, for tests that build an InnerConfig themselves."""
  return compact.CompactRule(terms=MECHANISM_RULE["terms"])


def tiny_config(rule: dict | None = None, **meta):
  """A meta-training config small enough for a test: digits 8x8, two buckets of two tasks,
  a tiny rule, 4 meta-steps; `rule` replaces the rule's fields (e.g. MECHANISM_RULE), and
  keyword arguments override fields of `meta`."""
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
  # Off (as before the curve existed: no examples set aside); its tests turn it on.
  c.validation.every = 0
  if rule is not None:
    c.rule = dict(rule)
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
      (n,) = struct.unpack("<Q", buf[i : i + 8])
      event = event_pb2.Event.FromString(buf[i + 12 : i + 12 + n])
      i += 12 + n + 4
      for v in event.summary.value:
        out.setdefault(v.tag, {})[event.step] = v.simple_value
  return out


def assert_close_at_scale(actual, desired, rel: float, err_msg: str = "") -> None:
  """actual and desired (arrays or pytrees of the same structure), made by two different
  programs, agree at the scale of each quantity: for every leaf,
  max|actual - desired| <= rel * max|desired|.

  Two programs that sum in another order (vmap vs loop, jit vs eager, sharded vs not) differ
  by float32 rounding relative to the *largest* terms of a result, not to each entry: an
  entry near zero carries the rounding of its large neighbours, so an element-wise rtol
  asks for more than float32 gives (it failed on one machine and passed on another). rel is
  chosen per test, from float32's epsilon (1.2e-7) times how far the program amplifies it,
  with the reason in a comment there. The check is done in float64 and so adds no rounding.
  """
  leaves_a, tree_a = jax.tree_util.tree_flatten(actual)
  leaves_d, tree_d = jax.tree_util.tree_flatten(desired)
  assert tree_a == tree_d, f"{err_msg}: structures differ: {tree_a} vs {tree_d}"
  for i, (a, d) in enumerate(zip(leaves_a, leaves_d)):
    a, d = np.asarray(a, np.float64), np.asarray(d, np.float64)
    assert a.shape == d.shape, f"{err_msg} leaf {i}: shapes {a.shape} vs {d.shape}"
    assert np.all(np.isfinite(a) == np.isfinite(d)), f"{err_msg} leaf {i}: non-finite differ"
    fin = np.isfinite(d)
    scale = float(np.max(np.abs(d[fin]), initial=0.0))
    err = float(np.max(np.abs(a[fin] - d[fin]), initial=0.0))
    assert err <= rel * scale or err == 0.0, (
      f"{err_msg} leaf {i} {d.shape}: max|difference| {err:.3g} is {err / max(scale, 1e-300):.3g}"
      f" of the leaf's scale {scale:.3g}, above rel={rel:g}"
    )
