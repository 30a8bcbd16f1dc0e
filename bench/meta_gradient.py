"""One truncated-BPTT meta-gradient (`estimators.truncated_bptt_gradient`) against the
truncation length, with and without rematerialisation (`InnerConfig.remat`): time, and peak memory
from XLA's compiled memory analysis (arguments + outputs + temporaries - aliased), which
is what the program needs regardless of allocator; on GPU/TPU the device's measured
`peak_bytes_in_use` is added."""

from __future__ import annotations

import jax

from bench import common
from metaunsup import estimators, inner

LENGTHS = (10, 50, 200)
TASKS = 2
BATCH = 16  # smaller than meta-training's 64 so k = 200 runs in seconds on a CPU
REPEATS = 2


def _peak_bytes(compiled) -> int:
  m = compiled.memory_analysis()
  return int(
    m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
  )


def run() -> tuple[dict, dict]:
  data = common.per_task(common.synthetic_data(), TASKS)
  rows = []
  for remat in (False, True):
    cfg = common.inner_config(batch_size=BATCH, remat=remat)
    theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
    states = jax.vmap(lambda k: inner.init_task(k, common.INPUT_DIM, cfg))(
      jax.random.split(jax.random.PRNGKey(1), TASKS)
    )
    for k in LENGTHS:
      grad = jax.jit(
        lambda th, st, d, k=k, cfg=cfg: estimators.truncated_bptt_gradient(th, cfg, st, d, k).grads
      )
      compiled = grad.lower(theta, states, data).compile()
      row = {
        "remat": remat,
        "k": k,
        "peak_bytes": _peak_bytes(compiled),
        "seconds": common.median_seconds(compiled, theta, states, data, repeats=REPEATS),
      }
      stats = jax.devices()[0].memory_stats()
      if stats and "peak_bytes_in_use" in stats:
        row["device_peak_bytes_in_use"] = int(stats["peak_bytes_in_use"])
      rows.append(row)
  peak = {(r["remat"], r["k"]): r["peak_bytes"] for r in rows}
  seconds = {(r["remat"], r["k"]): r["seconds"] for r in rows}
  last, first = LENGTHS[-1], LENGTHS[0]
  details = {
    "config": common.describe(common.inner_config(batch_size=BATCH), tasks=TASKS, repeats=REPEATS),
    "memory_measure": "XLA compiled memory_analysis: argument + output + temp - alias",
    "rows": rows,
    "remat_time_overhead": {k: seconds[(True, k)] / seconds[(False, k)] for k in LENGTHS},
  }
  return {
    f"remat_peak_memory_ratio_{last}_vs_{first}": peak[(True, last)] / peak[(True, first)],
    f"plain_peak_memory_ratio_{last}_vs_{first}": peak[(False, last)] / peak[(False, first)],
  }, details


def markdown(details: dict) -> str:
  lines = ["| truncation k | remat | peak memory (MiB) | seconds |", "| --- | --- | --- | --- |"]
  for r in details["rows"]:
    lines.append(
      f"| {r['k']} | {'yes' if r['remat'] else 'no'} | "
      f"{r['peak_bytes'] / 2**20:.1f} | {r['seconds']:.2f} |"
    )
  return "\n".join(lines)
