"""Where a compact rule breaks (issue 35): the rule and variants of its theta (the step sizes
of the layers above the first scaled by 0.5, 0.1 and 0; every step size by 0.3) on the
validation tasks of `--config=compact_arch` (the family's set-aside validation examples,
never held-out data), trained on each of `--networks`, against random init.

  python -m experiments.compact_arch.theta_probe \
      --rule=experiments/compact/results/flagship/rule.msgpack \
      --networks=tanh:256-256-256-256-32,relu:64-64-32 > experiments/compact_arch/results/probe.md
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import metaunsup
from metaunsup import task_family
from metaunsup.configs import compact_arch
from metaunsup.training import config_checks, setup, validation


def variants(theta: dict) -> dict:
  """The rule's theta and its variants (module docstring), by name."""
  mix = theta["mix"]
  return {
    "as learned": theta,
    "layers above the first x0.5": {**theta, "mix": mix.at[:, 1].multiply(0.5)},
    "layers above the first x0.1": {**theta, "mix": mix.at[:, 1].multiply(0.1)},
    "layers above the first x0 (random)": {**theta, "mix": mix.at[:, 1].multiply(0.0)},
    "every step size x0.3": {**theta, "log_lr": theta["log_lr"] + np.log(0.3)},
  }


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rule", required=True)
  p.add_argument("--networks", default="tanh:256-256-256-256-32,relu:64-64-32")
  a = p.parse_args()
  c = compact_arch.get_config()
  c.validation.networks = tuple(a.networks.split(","))
  c = config_checks.complete(c)
  family = task_family.TaskFamily(c, setup.inner_config(c))
  rule = metaunsup.load_rule(a.rule)
  v = validation.Validator(c, family, rule.config)
  steps = [str(n) for n in c.validation.inner_steps]
  init = v.random_init()["val_random_init_by_network"]
  head = " | ".join(f"{w} @{n}" for w in v.networks for n in steps)
  print(f"| theta | {head} | seconds |")
  print("| --- | " + " | ".join("---" for _ in v.networks for _ in steps) + " | --- |")
  print(
    "| random init | " + " | ".join(f"{init[w]:.3f}" for w in v.networks for _ in steps) + " | |"
  )
  for name, theta in variants(rule.theta).items():
    t0 = time.time()
    row = v(theta)["val_accuracy_by_network"]
    cells = " | ".join(f"{row[w][n]:.3f}" for w in v.networks for n in steps)
    print(f"| {name} | {cells} | {time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
  main()
