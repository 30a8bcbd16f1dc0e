"""Issue 15's baseline: today's setting (fmnist_relu: Fashion-MNIST 14x14, 64-64-32 relu,
8 tasks), truncated BPTT over truncations of 5 or 10 steps, tasks at most 300 inner steps
long, with the meta-step count sized to about 90 minutes on the 2-core CPU (fmnist_relu's
committed run took 7.9 s per meta-step: 600 steps in 4716 s). Compared with
horizon_long.py at equal CPU time:

  python -m metaunsup.train --config=experiments/horizon/configs/horizon_baseline.py \
      --workdir=runs/horizon_baseline
  make evaluate RULE=runs/horizon_baseline CONFIG=eval_full \
      OUT=runs/eval_horizon_baseline
"""

from experiments.shared.configs.fmnist_relu import get_config as _fmnist_relu


def get_config():
  c = _fmnist_relu()
  c.meta.estimator = "truncated_bptt"
  c.inner.max_total_steps = 300
  c.inner.advance_steps = 0
  c.meta.steps = 700
  return c
