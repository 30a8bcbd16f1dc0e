"""The compact rule with a learned schedule (issue 37): the shipped compact rule's mix, each
term's step size in each layer group modulated by a learned function of the inner step
(`rules.compact`, time_scales), meta-trained by PES on tasks of 30 to 10^4 inner steps.

It starts at the committed compact rule (experiments/compact/results/run/rule.msgpack), its
schedule at 0: step 0 of meta-training is that rule exactly. PES scores every truncation of
a task's whole life (ages 20, 120, 220, ...), and tasks are log-uniform in length, so short
horizons weigh more than in the compact run (100-3000 steps): a rule good at 10^2 and at
10^4 is what the meta-objective prefers. The validation curve reads 10^2, 10^3, 10^4.

  make meta-train CONFIG=experiments/time_aware/configs/meta_train.py WORKDIR=runs/time_aware
"""

import pathlib

from metaunsup.configs import compact

COMPACT_RULE = pathlib.Path(__file__).parents[2] / "compact" / "results" / "run" / "rule.msgpack"
# tanh(t / tau - 1) saturates at t of about 3 tau: these cover 10 to 3 x 10^4 inner steps.
TIME_SCALES = (10.0, 100.0, 1000.0, 10000.0)


def get_config():
  c = compact.get_config()
  c.rule = dict(kind="compact", l1=0.0, time_scales=TIME_SCALES)
  c.inner.min_total_steps, c.inner.max_total_steps = 30, 10000
  c.meta.init_rule = str(COMPACT_RULE)
  c.meta.steps, c.meta.checkpoint_every = 400, 25
  c.eval.inner_steps = 1000
  c.validation.every, c.validation.inner_steps = 25, (100, 1000, 10000)
  return c
