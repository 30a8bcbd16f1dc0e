"""Shared measuring tools: every figure is a median over repeats of a compiled, warmed-up
function, timed with `jax.block_until_ready`, in the process that also measures what it is
compared with."""

from __future__ import annotations

import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import inner, local_rule
from metaunsup.configs import default as default_config

INPUT_DIM = 196  # Fashion-MNIST 14x14, the default meta-training input


def environment() -> dict:
  device = jax.devices()[0]
  return {
    "cpu_count": os.cpu_count(),
    "jax": jax.__version__,
    "backend": jax.default_backend(),
    "device_kind": device.device_kind,
    "device_count": jax.device_count(),
  }


def median_seconds(fn, *args, repeats: int) -> float:
  """Median wall time of fn(*args) after one warm-up call (which also compiles)."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def inner_config(**overrides) -> inner.InnerConfig:
  """The default evaluation architecture (64-64-32 relu) with the default rule and batch
  size of meta-training, fields overridable."""
  c = default_config.get_config()
  base = dict(
    rule=local_rule.from_dict(c.rule.to_dict()),
    widths=tuple(c.eval.widths),
    activation=c.eval.activation,
    batch_size=c.family.batch_sizes[0],
  )
  return inner.InnerConfig(**{**base, **overrides})


def describe(cfg: inner.InnerConfig, **extra) -> dict:
  return {
    "input_dim": INPUT_DIM,
    "widths": list(cfg.widths),
    "batch_size": cfg.batch_size,
    "activation": cfg.activation,
    "rule": cfg.rule.to_dict(),
    "remat": cfg.remat,
    **extra,
  }


def per_task(data: inner.TaskData, num_tasks: int) -> inner.TaskData:
  return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (num_tasks,) + a.shape), data)


def synthetic_data(n: int = 2048, num_classes: int = 10, seed: int = 0) -> inner.TaskData:
  """Random inputs: these benchmarks time compute, which does not depend on the pixels."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, INPUT_DIM)).astype(np.float32)
  return inner.make_task_data(x, np.arange(n) % num_classes, num_classes)


def flops(compiled) -> float:
  """XLA's FLOP count of a compiled function (a dict, or a list of one dict per program in
  some jax versions)."""
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    return float(sum(c.get("flops", 0.0) for c in cost))
  return float(cost["flops"])


def peak_matmul_gflops(n: int = 2048, repeats: int = 5) -> dict:
  """This machine's f32 matmul throughput: the practical peak the inner step is held to."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  matmul = jax.jit(lambda a, b: a @ b)
  seconds = median_seconds(matmul, a, a, repeats=repeats)
  return {"n": n, "seconds": seconds, "gflops": 2 * n**3 / seconds / 1e9}
