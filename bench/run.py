"""`make bench`: run every benchmark in one process, write bench/results.json and a short
bench/results.md. A benchmark is a module here with `run() -> (headlines, details)` and
`markdown(details) -> str`; add its name to BENCHMARKS.

  python -m bench.run [--only meta_gradient_cost,utilisation] [--out bench]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import time

from bench import common
from metaunsup import checkpointing

BENCHMARKS = (
  "meta_gradient_cost",
  "multitask",
  "utilisation",
  "reductions",
  "meta_gradient",
  "data",
  "advance",
  "rule_designs",
  "memory",
  "conv",
)
TITLES = {
  "meta_gradient_cost": "Meta-gradient cost: the gradient against the forward computation",
  "multitask": "Multi-task throughput (vmap + scan vs a per-task Python loop)",
  "utilisation": "Utilisation of one inner step",
  "reductions": "Batch reductions: XLA's leading-axis mean vs a matrix-vector product",
  "meta_gradient": "Meta-gradient time and memory vs truncation",
  "data": "Data loading per meta-step vs the step",
  "advance": "Forward-only inner steps (advance) vs gradient inner steps",
  "rule_designs": "Rule designs: inner update and meta-step cost",
  "memory": "train_rule's peak resident memory and wall time, per packaged config",
  "conv": "Conv inner step and meta-step vs the MLP's, same rule and batch",
}


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=",".join(BENCHMARKS))
  parser.add_argument("--out", default="bench")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  results = {"environment": common.environment(), "benchmarks": {}}
  previous = out / "results.json"
  if previous.exists():
    # A partial run (--only) updates its benchmarks and keeps the others' results, as
    # long as they were measured on the same machine setup.
    old = json.loads(previous.read_text())
    if old.get("environment") == results["environment"]:
      results = old
  for name in args.only.split(","):
    module = importlib.import_module(f"bench.{name}")
    t0, load_before = time.perf_counter(), os.getloadavg()[0]
    headlines, details = module.run()
    details["wall_seconds"] = time.perf_counter() - t0
    # Other processes on the machine slow everything; the 1-minute load average says how
    # busy it was (paired ratios are less affected than absolute times).
    details["load_average_1min"] = [load_before, os.getloadavg()[0]]
    results.update(headlines)
    results["benchmarks"][name] = details
    print(name, json.dumps(headlines), f"({details['wall_seconds']:.0f} s)", flush=True)
  write(results, out)
  return results


def write(results: dict, out: pathlib.Path) -> None:
  """results.json, and results.md: the headlines, then each benchmark's table."""
  sections = [
    f"## {TITLES.get(name, name)}\n\n{importlib.import_module(f'bench.{name}').markdown(details)}\n"
    for name, details in results["benchmarks"].items()
  ]
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.json").write_text(checkpointing.dumps(results, indent=2) + "\n")
  env = results["environment"]
  head = {k: v for k, v in results.items() if k not in ("environment", "benchmarks")}
  (out / "results.md").write_text(
    "# Benchmarks\n\n"
    f"`make bench` on {env['cpu_count']} CPU cores, jax {env['jax']}, backend "
    f"{env['backend']} ({env['device_kind']}). Medians over repeats; configs in "
    "results.json.\n\n"
    + "".join(f"- `{k}`: {v:.3g}\n" for k, v in head.items())
    + "\n"
    + "\n".join(sections)
  )


if __name__ == "__main__":
  main()
