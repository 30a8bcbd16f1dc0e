"""The time-aware compact rule's second run (issue 37): meta_train.py's task family and
estimator, started where the schedule already follows the step size that is best per
horizon on meta-training data (compact_sweep.py's fit, results/warm_start/rule.msgpack),
instead of at 0. The first run's 400 PES steps moved the factors by 0.3-3.5x from 1;
the sweep finds 5x best at 10^2 inner steps.

  make meta-train CONFIG=experiments/time_aware/configs/meta_train_warm.py \
    WORKDIR=runs/time_aware_warm
"""

import pathlib

from experiments.time_aware.configs import meta_train

WARM_START = pathlib.Path(__file__).parents[1] / "results" / "warm_start" / "rule.msgpack"


def get_config():
  c = meta_train.get_config()
  c.meta.init_rule = str(WARM_START)
  # Validation at 10^4 inner steps took 37% of the first run: every 50 meta-steps here.
  c.meta.steps, c.validation.every = 300, 50
  return c
