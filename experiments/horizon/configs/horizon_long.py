"""Issue 15's long-horizon setting: horizon_baseline.py with tasks log-uniformly 30 to
10^4 inner steps long. After each scored truncation (5 or 10 steps, truncated BPTT) every
task takes 40 forward-only inner steps with theta (`inner.advance_steps`, each about 0.08
of a gradient step: README), so tasks reach every age up to 10^4 and meta-training
scores the rule on old networks as often as on young ones. Each truncation is scored at 2
points and any increase of the meta-loss from the start of the truncation on is penalised
(`meta.worsening_penalty`), against the late decay of today's rule. Fewer meta-steps than
the baseline for the same CPU time: 15-step trial runs of both, side by side, took a
median of 15.2 against 12.7 s per meta-step (fastest 10.6 against 7.5, on a loaded
machine), so 500 here against the baseline's 700. Check `step_seconds` in metrics.jsonl
after a few steps and set --config.meta.steps so that both runs take 90 minutes:

  python -m metaunsup.train --config=experiments/horizon/configs/horizon_long.py \
      --workdir=runs/horizon_long
  make evaluate RULE=runs/horizon_long CONFIG=eval_full \
      OUT=runs/eval_horizon_long

The PES variant (unbiased over the whole trajectory, much higher variance with 5426
meta-parameters): add --config.meta.estimator=pes --config.meta.es_pairs=2.
"""

from experiments.horizon.configs.horizon_baseline import get_config as _baseline


def get_config():
  c = _baseline()
  c.inner.max_total_steps = 10_000
  c.inner.advance_steps = 40
  c.meta.objective = "mean_over_truncation"
  c.meta.objective_points = 2
  c.meta.worsening_penalty = 1.0
  c.meta.steps = 500
  return c
