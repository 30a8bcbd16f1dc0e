"""The compact rule's learned schedule, plotted: each term's step size (in units of its
zoo-sweep step size, exp(log_lr) * mix * the schedule's factor) against the inner step, for
the first layer and the layers above (`rules.compact.CompactRule.step_factors`).

  python -m experiments.time_aware.plot_schedule RULE --out experiments/time_aware/results
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import metaunsup  # noqa: E402
from metaunsup.rules import compact  # noqa: E402


def step_sizes(rule: compact.CompactRule, theta, steps: np.ndarray) -> np.ndarray:
  """[len(steps), num_terms, 2] each term's step size per layer group at each inner step."""
  base = np.exp(float(theta["log_lr"])) * np.asarray(theta["mix"])
  return np.stack([base * np.asarray(rule.step_factors(theta, int(t))) for t in steps])


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("rule", help="a rule file or workdir of a compact rule with time_scales")
  p.add_argument("--out", default="experiments/time_aware/results")
  args = p.parse_args()
  loaded = metaunsup.load_rule(args.rule)
  rule = loaded.config
  if not isinstance(rule, compact.CompactRule) or not rule.time_scales:
    raise SystemExit(f"{args.rule} holds no compact rule with a learned schedule")
  steps = np.unique(np.geomspace(1, 10000, 60).astype(int))
  sizes = step_sizes(rule, loaded.theta, steps)
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for g, (ax, group) in enumerate(zip(axes, ("first layer", "layers above"))):
    for i, term in enumerate(rule.terms):
      ax.plot(steps, sizes[:, i, g], label=term)
    ax.set_xscale("log")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("inner step")
    ax.set_title(group)
  axes[0].set_ylabel("step size (units of the zoo sweep's lr)")
  axes[1].legend(fontsize=8)
  fig.tight_layout()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  fig.savefig(out / "schedule.png", dpi=120)
  print(f"wrote {out / 'schedule.png'}")


if __name__ == "__main__":
  main()
