"""What an inner step costs with and without a gradient, side by side: the marginal time
of one more scored inner step of a truncated-BPTT meta-gradient (forward + backward) against
one more forward-only step of `inner.advance` (what carries tasks to old ages between
truncations, `inner.advance_steps`), and one whole truncation under each estimator.
Same tasks, same shapes (Fashion-MNIST 14x14, 64-64-32 relu, batch 64, 8 tasks), one
process; marginal = (t(long) - t(short)) / (long - short) cancels the meta-loss."""

from __future__ import annotations

import jax

from bench import common
from metaunsup import estimators, inner

TASKS = 8
SHORT, LONG = 10, 30
REPEATS = 3


def run() -> tuple[dict, dict]:
  data = common.per_task(common.synthetic_data(), TASKS)
  cfg = common.inner_config()
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  states = jax.vmap(lambda k: inner.init_task(k, common.INPUT_DIM, cfg))(
    jax.random.split(jax.random.PRNGKey(1), TASKS)
  )
  key = jax.random.PRNGKey(2)

  def truncation_seconds(estimator, k):
    est_state = estimator.init(theta, states)
    fn = jax.jit(
      lambda th, es, st, d: (
        estimator.estimate(th, es, st, d, key, estimators.inner_truncation(cfg, k)).grads
      )
    )
    return common.median_seconds(fn, theta, est_state, states, data, repeats=REPEATS)

  def advance_seconds(n):
    fn = jax.jit(jax.vmap(lambda th, st, d: inner.advance(th, cfg, st, d, n), in_axes=(None, 0, 0)))
    return common.median_seconds(fn, theta, states, data, repeats=REPEATS)

  bptt = {k: truncation_seconds(estimators.TruncatedBPTT(), k) for k in (SHORT, LONG)}
  fwd = {n: advance_seconds(n) for n in (SHORT, LONG)}
  grad_step = (bptt[LONG] - bptt[SHORT]) / (LONG - SHORT)
  forward_step = (fwd[LONG] - fwd[SHORT]) / (LONG - SHORT)
  per_estimator = {
    e.name: truncation_seconds(e, SHORT)
    for e in (estimators.TruncatedBPTT(), estimators.PES(pairs=1), estimators.AntitheticES(pairs=1))
  }
  details = {
    "config": common.describe(cfg, tasks=TASKS, repeats=REPEATS, lengths=[SHORT, LONG]),
    "bptt_truncation_seconds": bptt,
    "advance_seconds": fwd,
    "gradient_inner_step_ms": 1e3 * grad_step,
    "forward_only_inner_step_ms": 1e3 * forward_step,
    "truncation_seconds_k10_by_estimator": per_estimator,
  }
  return {"forward_only_to_gradient_step_cost": forward_step / grad_step}, details


def markdown(details: dict) -> str:
  lines = [
    f"Marginal cost of one inner step of {details['config']['tasks']} tasks: "
    f"{details['gradient_inner_step_ms']:.1f} ms with gradient (truncated BPTT), "
    f"{details['forward_only_inner_step_ms']:.1f} ms forward-only (advance).",
    "",
    "| estimator | one truncation, k = 10 (s) |",
    "| --- | --- |",
  ]
  for name, s in details["truncation_seconds_k10_by_estimator"].items():
    lines.append(f"| {name} | {s:.2f} |")
  return "\n".join(lines)
