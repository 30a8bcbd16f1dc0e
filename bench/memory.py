"""`train_rule`'s peak resident memory (issue 39, item 7): each packaged meta-training config
of MEMORY_CONFIGS meta-trained through `metaunsup.train_rule` in a fresh Python process for
a few meta-steps, its peak resident set size (`getrusage(RUSAGE_SELF).ru_maxrss`: every
compile, the meta-steps, the validation curve and the held-out check after the run) and wall
time read back from it. A fresh process, because the peak of a process that already ran
another config would be the larger of the two; the persistent compilation cache is off in it,
so that every program is compiled, as on a user's first run.

  python -m bench.run --only memory
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

# {config name: meta-steps}. Two steps reach the peak of a run's first minutes (compile, a
# step, validation, the held-out check); a config whose truncation grows later may go higher.
# "laptop" runs whole (its 100 steps): the README quotes its time, memory and result.
MEMORY_CONFIGS = {"smoke": 2, "compact": 2, "default": 2, "laptop": 100}

_CHILD = """
import json, resource, sys, time
import metaunsup
name, workdir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
result = metaunsup.train_rule(name, workdir, meta={"steps": steps})
keys = ("val_accuracy_first", "val_accuracy_last", "val_accuracy_random_init",
        "fewshot_acc_rule", "fewshot_acc_random_init")
print(json.dumps({
  **{k: result.summary.get(k) for k in keys},
  "seconds": time.perf_counter() - t0,
  # Linux reports ru_maxrss in KiB.
  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
"""


def measure(name: str, steps: int) -> dict:
  """One config's peak resident memory and wall time, meta-trained in a fresh process.

  Args:
    name: a packaged meta-training config ("smoke", "compact", "default", ...).
    steps: meta-steps to run.

  Returns:
    {"config", "meta_steps", "seconds", "peak_rss_bytes", "peak_rss_gib"}.

  Raises:
    RuntimeError: the run failed (the last line of its stderr, the error, in one line).
  """
  with tempfile.TemporaryDirectory() as tmp:
    # No persistent compilation cache: the Makefile's JAX_COMPILATION_CACHE_DIR removed, and
    # metaunsup's own default cache turned off (`metaunsup.compile_cache`).
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    r = subprocess.run(
      [sys.executable, "-c", _CHILD, name, f"{tmp}/run", str(steps)],
      capture_output=True,
      text=True,
      env={**env, "METAUNSUP_XLA_CACHE": "off"},
    )
  if r.returncode != 0:
    last = [line for line in r.stderr.splitlines() if line.strip()][-1:] or ["no output"]
    raise RuntimeError(f"train_rule({name!r}) failed: {last[0]}")
  out = json.loads(r.stdout.strip().splitlines()[-1])
  return {
    "config": name,
    "meta_steps": steps,
    **out,
    "peak_rss_gib": out["peak_rss_bytes"] / 2**30,
  }


def run() -> tuple[dict, dict]:
  rows = [measure(name, steps) for name, steps in MEMORY_CONFIGS.items()]
  headlines = {f"train_rule_peak_gib_{r['config']}": r["peak_rss_gib"] for r in rows}
  return headlines, {"rows": rows}


def markdown(details: dict) -> str:
  lines = [
    "| config | meta-steps | peak resident memory (GiB) | wall seconds (compiles included) "
    "| validation first -> last (random init) | held out: rule vs random init |",
    "| --- | --- | --- | --- | --- | --- |",
  ]

  def acc(v) -> str:
    return "—" if v is None else f"{v:.3f}"

  for r in details["rows"]:
    val = (
      f"{acc(r.get('val_accuracy_first'))} -> {acc(r.get('val_accuracy_last'))} "
      f"({acc(r.get('val_accuracy_random_init'))})"
    )
    held_out = f"{acc(r.get('fewshot_acc_rule'))} vs {acc(r.get('fewshot_acc_random_init'))}"
    lines.append(
      f"| {r['config']} | {r['meta_steps']} | {r['peak_rss_gib']:.2f} | {r['seconds']:.0f} "
      f"| {val} | {held_out} |"
    )
  return "\n".join(lines)
