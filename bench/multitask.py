"""Many tasks at once: `inner.unroll` vmapped over T tasks in one jitted program, against
the authors' design, one task at a time from a Python loop over a jitted single inner step,
at the same total work (T * k task-steps).

  python -m bench.multitask --tasks 1,4,...,1024 --out DIR   (a sweep, with a
  figure; `bench/device.sh` runs it on an accelerator)
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

from bench import common
from metaunsup import inner

TASKS = (1, 4, 16, 64)
K = 4  # inner steps per unroll
REPEATS = 3


def measure(tasks=TASKS, k: int = K, repeats: int = REPEATS, loop_max: int = max(TASKS)):
  """Rows of vmap+scan against the per-task loop for each T in `tasks`; the loop (T * k
  dispatches) only up to `loop_max` tasks, its columns None beyond."""
  cfg = common.inner_config()
  data = common.synthetic_data()
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  init = jax.jit(jax.vmap(lambda k: inner.init_task(k, common.INPUT_DIM, cfg)))

  # Batch sampling is inside both jitted functions, so they differ only in how the work
  # is dispatched: one program for all tasks and steps, or one call per task-step.
  vmapped = jax.jit(jax.vmap(lambda st: inner.unroll(theta, cfg, st, data, k)))
  one_step = jax.jit(lambda st: inner.unroll(theta, cfg, st, data, 1))

  def loop(states, num_tasks):
    out = []
    for i in range(num_tasks):
      st = jax.tree_util.tree_map(lambda a: a[i], states)
      for _ in range(k):
        st = one_step(st)
      out.append(st)
    return out

  rows = []
  for num_tasks in tasks:
    states = init(jax.random.split(jax.random.PRNGKey(1), num_tasks))
    t_vmap = common.median_seconds(vmapped, states, repeats=repeats)
    t_loop = (
      common.median_seconds(loop, states, num_tasks, repeats=repeats)
      if num_tasks <= loop_max
      else None
    )
    task_steps = num_tasks * k
    rows.append(
      {
        "tasks": num_tasks,
        "task_steps": task_steps,
        "vmap_seconds": t_vmap,
        "loop_seconds": t_loop,
        "vmap_task_steps_per_s": task_steps / t_vmap,
        "loop_task_steps_per_s": t_loop and task_steps / t_loop,
        "speedup": t_loop and t_loop / t_vmap,
      }
    )
  return {"config": common.describe(cfg, inner_steps=k, repeats=repeats), "rows": rows}


def run() -> tuple[dict, dict]:
  details = measure()
  speedup = {r["tasks"]: r["speedup"] for r in details["rows"]}
  return {"multitask_speedup_T16": speedup[16]}, details


def markdown(details: dict) -> str:
  lines = [
    "| tasks T | task-steps | vmap+scan task-steps/s | per-task loop task-steps/s | speed-up |",
    "| --- | --- | --- | --- | --- |",
  ]
  for r in details["rows"]:
    loop = (
      ("-", "-")
      if r["speedup"] is None
      else (f"{r['loop_task_steps_per_s']:.1f}", f"{r['speedup']:.2f}x")
    )
    lines.append(
      f"| {r['tasks']} | {r['task_steps']} | {r['vmap_task_steps_per_s']:.1f} | "
      f"{loop[0]} | {loop[1]} |"
    )
  return "\n".join(lines)


def figure(details: dict, path: pathlib.Path, device: str) -> None:
  """Task-steps per second against T, both ways, titled with the device."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rows = details["rows"]
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(
    [r["tasks"] for r in rows],
    [r["vmap_task_steps_per_s"] for r in rows],
    "o-",
    label="vmap + scan, one program",
  )
  looped = [r for r in rows if r["speedup"] is not None]
  ax.plot(
    [r["tasks"] for r in looped],
    [r["loop_task_steps_per_s"] for r in looped],
    "s--",
    label="per-task loop of jitted steps",
  )
  ax.set(
    xscale="log",
    yscale="log",
    xlabel="tasks T",
    ylabel="task inner steps / s",
    title=f"Multi-task throughput on {device}",
  )
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description="multi-task throughput sweep over T")
  parser.add_argument("--tasks", default="1,4,16,64", help="comma-separated task counts")
  parser.add_argument(
    "--loop-max",
    type=int,
    default=64,
    help="largest T also timed as a per-task loop (T * k dispatches)",
  )
  parser.add_argument("--inner-steps", type=int, default=K)
  parser.add_argument("--repeats", type=int, default=REPEATS)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  details = measure(
    tuple(int(t) for t in args.tasks.split(",")), args.inner_steps, args.repeats, args.loop_max
  )
  details["environment"] = common.environment()
  device = f"{details['environment']['device_kind']} ({details['environment']['backend']})"
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "multitask.json").write_text(json.dumps(details, indent=2) + "\n")
  (out / "multitask.md").write_text(
    f"# Multi-task throughput on {device}\n\n" + markdown(details) + "\n"
  )
  figure(details, out / "multitask.png", device)
  return details


if __name__ == "__main__":
  main()
