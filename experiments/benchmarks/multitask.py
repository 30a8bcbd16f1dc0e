"""Many tasks at once: `inner.unroll` vmapped over T tasks in one jitted program, against
the authors' design, one task at a time from a Python loop over a jitted single inner step,
at the same total work (T * k task-steps)."""
from __future__ import annotations

import jax

from experiments.benchmarks import common
from metaunsup import inner, rule

TASKS = (1, 4, 16, 64)
K = 4          # inner steps per unroll
REPEATS = 3


def run() -> tuple[dict, dict]:
  cfg = common.inner_config()
  data = common.synthetic_data()
  theta = rule.init_theta(jax.random.PRNGKey(0), cfg.rule)
  init = jax.jit(jax.vmap(lambda k: inner.init_task(k, common.INPUT_DIM, cfg)))

  # Batch sampling is inside both jitted functions, so they differ only in how the work
  # is dispatched: one program for all tasks and steps, or one call per task-step.
  vmapped = jax.jit(jax.vmap(lambda st: inner.unroll(theta, cfg, st, data, K)))
  one_step = jax.jit(lambda st: inner.unroll(theta, cfg, st, data, 1))

  def loop(states, num_tasks):
    out = []
    for i in range(num_tasks):
      st = jax.tree_util.tree_map(lambda a: a[i], states)
      for _ in range(K):
        st = one_step(st)
      out.append(st)
    return out

  rows = []
  for num_tasks in TASKS:
    states = init(jax.random.split(jax.random.PRNGKey(1), num_tasks))
    t_vmap = common.median_seconds(vmapped, states, repeats=REPEATS)
    t_loop = common.median_seconds(loop, states, num_tasks, repeats=REPEATS)
    task_steps = num_tasks * K
    rows.append({"tasks": num_tasks, "task_steps": task_steps,
                 "vmap_seconds": t_vmap, "loop_seconds": t_loop,
                 "vmap_task_steps_per_s": task_steps / t_vmap,
                 "loop_task_steps_per_s": task_steps / t_loop,
                 "speedup": t_loop / t_vmap})
  speedup = {r["tasks"]: r["speedup"] for r in rows}
  details = {"config": common.describe(cfg, inner_steps=K, repeats=REPEATS), "rows": rows}
  return {"multitask_speedup_T16": speedup[16]}, details


def markdown(details: dict) -> str:
  lines = ["| tasks T | task-steps | vmap+scan task-steps/s | per-task loop task-steps/s "
           "| speed-up |", "| --- | --- | --- | --- | --- |"]
  for r in details["rows"]:
    lines.append(f"| {r['tasks']} | {r['task_steps']} | {r['vmap_task_steps_per_s']:.1f} | "
                 f"{r['loop_task_steps_per_s']:.1f} | {r['speedup']:.2f}x |")
  return "\n".join(lines)
