"""Data loading per meta-step against the meta-step itself, on the default task family
(real sources from `make data`): the host builds every task's pool (`TaskFamily.step_data`)
while the jitted `training.meta_step.meta_step` consumes it. Measured both with sources held in
memory (the default for small sources) and read by index from the array_record files each step
(what a source larger than `family.cache_mb` does)."""

from __future__ import annotations

import statistics
import time

import jax

from metaunsup import task_family
from metaunsup.configs import default as default_config
from metaunsup.training import meta_step, setup

REPEATS = 5
K = 5  # the shorter default truncation: the less compute, the larger loading's share


def _config(cache_mb: float):
  c = default_config.get_config()
  c.family.cache_mb = cache_mb
  return c


def _median_data_seconds(family) -> float:
  ids = family.initial_datasets()
  family.step_data(0, ids)  # standardisers are fitted once, on first use
  return statistics.median(family.step_data(i + 1, ids)[1] for i in range(REPEATS))


def run() -> tuple[dict, dict]:
  c = _config(default_config.get_config().family.cache_mb)
  cached, static, state = setup.setup(c)
  streamed = task_family.TaskFamily(_config(1e-6), setup.inner_config(c))
  task_data, _ = cached.step_data(0, state.datasets)

  def step():
    return meta_step.meta_step(state, task_data, static=static, k=K)

  jax.block_until_ready(step())
  times = []
  for _ in range(REPEATS):
    t0 = time.perf_counter()
    jax.block_until_ready(step())
    times.append(time.perf_counter() - t0)
  step_s = statistics.median(times)
  data_cached, data_streamed = _median_data_seconds(cached), _median_data_seconds(streamed)
  details = {
    "config": {
      "family": c.family.to_dict(),
      "buckets": cached.describe(),
      "truncation": K,
      "repeats": REPEATS,
    },
    "step_seconds": step_s,
    "data_seconds_in_memory": data_cached,
    "data_seconds_streamed": data_streamed,
  }
  return {
    "data_to_step_ratio": data_cached / step_s,
    "data_to_step_ratio_streamed": data_streamed / step_s,
  }, details


def markdown(details: dict) -> str:
  s = details["step_seconds"]
  return "\n".join(
    [
      "| what | seconds per meta-step | relative to the step |",
      "| --- | --- | --- |",
      f"| jitted meta-step (k = {details['config']['truncation']}) | {s:.3f} | 1 |",
      f"| data, sources in memory | {details['data_seconds_in_memory']:.3f} | "
      f"{details['data_seconds_in_memory'] / s:.3f} |",
      f"| data, read by index each step | {details['data_seconds_streamed']:.3f} | "
      f"{details['data_seconds_streamed'] / s:.3f} |",
    ]
  )
