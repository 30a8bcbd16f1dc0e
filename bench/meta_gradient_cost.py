"""What meta-training pays for: one truncated-BPTT meta-gradient against the same unroll and
meta-objective without the gradient (same tasks, truncation, shapes, data), timed
interleaved in one process, for the default config's task family and for the
`fmnist_relu` experiment's single bucket. Real task data from the family (`make data`).

The gradient is written here as `estimators.TruncatedBPTT` computes it -- `jax.value_and_grad`
of the mean of `inner.truncated_loss` over every task of a bucket, vmapped, buckets averaged
as `training.meta_step.meta_step` weighs them -- so the benchmark measures the inner problem's cost
whatever estimator module wraps it. Also timed, as a candidate: each task differentiated on
its own in a `lax.map` (one at a time) and the gradients averaged, which keeps one task's
stored intermediates closer to the cache; it is not adopted (paired runs disagreed: README,
'Meta-gradient cost').

  python -m bench.run --only meta_gradient_cost
"""

from __future__ import annotations

import functools
import importlib
import statistics
import time

import jax
import jax.numpy as jnp

from metaunsup import configs, inner
from metaunsup.training import setup

K = 10  # the longer default truncation
REPEATS = 7
CONFIGS = ("default", "fmnist_relu")


def _mean_loss(theta, cfgs, tasks, task_data, k):
  """Mean meta-loss over every task of every bucket, as `training.meta_step.meta_step` weighs
  them."""
  total, count = 0.0, 0
  for cfg, states, data in zip(cfgs, tasks, task_data):
    per_task = functools.partial(inner.truncated_loss, cfg=cfg, k=k)
    losses, _ = jax.vmap(lambda st, d: per_task(theta, state=st, data=d))(states, data)
    total, count = total + jnp.sum(losses), count + losses.shape[0]
  return total / count


def _per_task_value_and_grad(theta, cfgs, tasks, task_data, k, tasks_per_batch):
  """The same value and gradient, each task differentiated on its own (`tasks_per_batch`
  vmapped at a time, in a `lax.map`) and the gradients averaged."""
  losses, grads = [], []
  for cfg, states, data in zip(cfgs, tasks, task_data):

    def one(task, cfg=cfg):
      st, d = task
      return jax.value_and_grad(lambda th: inner.truncated_loss(th, cfg, st, d, k)[0])(theta)

    l, g = jax.lax.map(one, (states, data), batch_size=min(tasks_per_batch, states.step.shape[0]))
    losses.append(l)
    grads.append(g)
  count = sum(l.shape[0] for l in losses)
  return (
    sum(jnp.sum(l) for l in losses) / count,
    jax.tree_util.tree_map(lambda *g: sum(jnp.sum(x, 0) for x in g) / count, *grads),
  )


def programs(cfgs, k, tasks_per_batch: int | None = None):
  """(gradient, forward) jitted functions of (theta, tasks, task_data); the gradient
  returns (loss, grads). tasks_per_batch None: the gradient of the vmapped mean loss."""

  def loss(theta, tasks, task_data):
    return _mean_loss(theta, cfgs, tasks, task_data, k)

  if tasks_per_batch is None:
    grad = jax.jit(jax.value_and_grad(loss))
  else:
    grad = jax.jit(
      lambda theta, tasks, task_data: _per_task_value_and_grad(
        theta, cfgs, tasks, task_data, k, tasks_per_batch
      )
    )
  return grad, jax.jit(loss)


def interleaved_seconds(fns: dict, args, repeats: int) -> dict:
  """Median wall time of each fn(*args), the functions called in turn within every repeat
  so that load from other processes falls on all of them alike; also the median of the
  per-repeat ratios to the first function."""
  for fn in fns.values():
    jax.block_until_ready(fn(*args))  # compile and warm up
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[name].append(time.perf_counter() - t0)
  first = next(iter(fns))
  return {
    "seconds": {n: statistics.median(t) for n, t in times.items()},
    "ratio_to_" + first: {
      n: statistics.median(a / b for a, b in zip(t, times[first])) for n, t in times.items()
    },
  }


def _module(name: str) -> str:
  """A config's module: a packaged one by name, else a research config of experiments/."""
  return (
    f"metaunsup.configs.{name}" if name in configs.TRAIN else f"experiments.shared.configs.{name}"
  )


def setting(name: str):
  """(cfgs, theta, tasks, task_data, description) of an experiment config's task family,
  as its meta-training starts (`training.setup`)."""
  c = importlib.import_module(_module(name)).get_config()
  family, static, state = setup.setup(c)
  task_data, _ = family.step_data(0, state.datasets)
  return static.cfgs, state.theta, state.tasks, task_data, family.describe()


def measure(name: str, k: int = K, repeats: int = REPEATS) -> dict:
  cfgs, theta, tasks, task_data, buckets = setting(name)
  num_tasks = sum(b["num_tasks"] for b in buckets)
  grad, forward = programs(cfgs, k)
  grad_per_task, _ = programs(cfgs, k, tasks_per_batch=1)
  t = interleaved_seconds(
    {"forward": forward, "gradient": grad, "gradient_per_task": grad_per_task},
    (theta, tasks, task_data),
    repeats,
  )
  task_steps = k * num_tasks
  return {
    "config": _module(name).replace(".", "/") + ".py",
    "buckets": buckets,
    "truncation": k,
    "repeats": repeats,
    "forward_seconds": t["seconds"]["forward"],
    "gradient_seconds": t["seconds"]["gradient"],
    "gradient_per_task_seconds": t["seconds"]["gradient_per_task"],
    "meta_gradient_to_forward_ratio": t["ratio_to_forward"]["gradient"],
    "per_task_to_forward_ratio": t["ratio_to_forward"]["gradient_per_task"],
    "task_steps_per_meta_gradient": task_steps,
    "task_steps_per_s": task_steps / t["seconds"]["gradient"],
  }


def run() -> tuple[dict, dict]:
  rows = {name: measure(name) for name in CONFIGS}
  d, f = rows["default"], rows["fmnist_relu"]
  return (
    {
      "meta_gradient_to_forward_ratio": d["meta_gradient_to_forward_ratio"],
      "meta_gradient_to_forward_ratio_fmnist_relu": f["meta_gradient_to_forward_ratio"],
      "meta_train_task_steps_per_s": d["task_steps_per_s"],
      "meta_train_task_steps_per_s_fmnist_relu": f["task_steps_per_s"],
    },
    {"rows": rows},
  )


def markdown(details: dict) -> str:
  lines = [
    "| config | tasks | k | forward s | meta-gradient s | ratio | "
    "candidate, one task at a time: s | ratio | task-steps/s with gradient |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for r in details["rows"].values():
    lines.append(
      f"| {r['config']} | {r['task_steps_per_meta_gradient'] // r['truncation']} | "
      f"{r['truncation']} | {r['forward_seconds']:.3f} | "
      f"{r['gradient_seconds']:.3f} | "
      f"{r['meta_gradient_to_forward_ratio']:.2f}x | "
      f"{r['gradient_per_task_seconds']:.3f} | "
      f"{r['per_task_to_forward_ratio']:.2f}x | "
      f"{r['task_steps_per_s']:.1f} |"
    )
  lines += [
    "",
    "Ratios are medians of per-repeat ratios, the three programs called in turn "
    "within each repeat.",
  ]
  return "\n".join(lines)
