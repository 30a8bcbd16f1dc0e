"""`make bench`: run every benchmark in one process, write bench/results.json and a short
bench/results.md. A benchmark is a module here with `run() -> (headlines, details)` and
`markdown(details) -> str`; add its name to BENCHMARKS.

  python -m experiments.benchmarks.run [--only multitask,utilisation] [--out bench]
"""
from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import time

from experiments.benchmarks import common
from metaunsup import checkpointing

BENCHMARKS = ("multitask", "utilisation", "reductions", "meta_gradient", "data", "advance")
TITLES = {"multitask": "Multi-task throughput (vmap + scan vs a per-task Python loop)",
          "utilisation": "Utilisation of one inner step",
          "reductions": "Batch reductions: XLA's leading-axis mean vs a matrix-vector product",
          "meta_gradient": "Meta-gradient time and memory vs truncation",
          "data": "Data loading per meta-step vs the step",
          "advance": "Forward-only inner steps (advance) vs gradient inner steps"}


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default=",".join(BENCHMARKS))
  parser.add_argument("--out", default="bench")
  args = parser.parse_args(argv)
  results = {"environment": common.environment(), "benchmarks": {}}
  sections = []
  for name in args.only.split(","):
    module = importlib.import_module(f"experiments.benchmarks.{name}")
    t0 = time.perf_counter()
    headlines, details = module.run()
    details["wall_seconds"] = time.perf_counter() - t0
    results.update(headlines)
    results["benchmarks"][name] = details
    sections.append(f"## {TITLES.get(name, name)}\n\n{module.markdown(details)}\n")
    print(name, json.dumps(headlines), f"({details['wall_seconds']:.0f} s)", flush=True)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "results.json").write_text(checkpointing.dumps(results, indent=2) + "\n")
  env = results["environment"]
  head = {k: v for k, v in results.items() if k not in ("environment", "benchmarks")}
  (out / "results.md").write_text(
      "# Benchmarks\n\n"
      f"`make bench` on {env['cpu_count']} CPU cores, jax {env['jax']}, backend "
      f"{env['backend']} ({env['device_kind']}). Medians over repeats; configs in "
      "results.json.\n\n"
      + "".join(f"- `{k}`: {v:.3g}\n" for k, v in head.items()) + "\n"
      + "\n".join(sections))
  return results


if __name__ == "__main__":
  main()
