"""What each rule design costs, side by side at equal shapes: (1) one jitted inner step
(`inner.inner_step`: the forward pass on a batch and the rule's update) of the learned rule,
its competition and zoo-term extensions, the compact rule and a hand-designed reference
(Krotov-Hopfield); (2) one truncated-BPTT meta-gradient of each learned variant against the
same unroll and meta-objective without the gradient (as `meta_gradient_cost` measures it),
and for the compact rule, trained forward-only by PES, the forward truncation alone: what
one PES particle costs.

Default evaluation architecture (14x14 input, 64-64-32 relu, batch 64), synthetic data,
theta from each rule's `init_theta(PRNGKey(0))`. Every variant is compiled and warmed up
first, then timed interleaved: in each round every variant is called in turn, so that load
from other processes falls on all of them alike; ratios are medians of per-round ratios.

  python -m bench.run --only rule_designs
"""

from __future__ import annotations

import statistics
import time

import jax

from bench import common, meta_gradient_cost
from metaunsup import compact_rule, inner, rule
from metaunsup.zoo import krotov_hopfield
from metaunsup.zoo import terms as zoo_terms

BASELINE = "learned"
K = 10  # truncation of the meta-gradient (the longer default)
TASKS = 4  # tasks vmapped in one meta-gradient
STEP_ROUNDS = 7  # rounds of the inner-step timing
STEP_CALLS = 20  # consecutive calls of each variant per round
META_ROUNDS = 5  # rounds of the meta-gradient timing


def designs() -> dict:
  """name -> rule, the baseline first."""
  return {
    "learned": rule.RuleConfig(),
    "learned+competition": rule.RuleConfig(competition=True),
    "learned+zoo": rule.RuleConfig(zoo_terms=zoo_terms.TERMS),
    "learned+competition+zoo": rule.RuleConfig(competition=True, zoo_terms=zoo_terms.TERMS),
    "compact": compact_rule.CompactRule(),
    "krotov_hopfield": krotov_hopfield.KrotovHopfield(lr=0.02 / 9 * 3),
  }


def interleaved(calls: dict, rounds: int, calls_per_round: int = 1) -> list[dict]:
  """Per round, each variant's mean seconds per call over `calls_per_round` consecutive
  calls, the variants called in turn. calls: name -> zero-argument function returning
  arrays; each is called once first (compile and warm up)."""
  for fn in calls.values():
    jax.block_until_ready(fn())
  out = []
  for _ in range(rounds):
    row = {}
    for name, fn in calls.items():
      total = 0.0
      for _ in range(calls_per_round):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        total += time.perf_counter() - t0
      row[name] = total / calls_per_round
    out.append(row)
  return out


def median_of(rows: list[dict], name: str) -> float:
  return statistics.median(r[name] for r in rows)


def median_ratio(rows: list[dict], num: str, den: str) -> float:
  return statistics.median(r[num] / r[den] for r in rows)


def inner_steps(rules: dict) -> dict:
  """(1): milliseconds per jitted inner step of each design, and its ratio to the
  baseline's."""
  x = common.synthetic_data().x
  calls, shapes = {}, {}
  for name, r in rules.items():
    cfg = common.inner_config(rule=r)
    theta = r.init_theta(jax.random.PRNGKey(0))
    params = inner.init_task(jax.random.PRNGKey(1), common.INPUT_DIM, cfg).params
    step = jax.jit(lambda th, p, xb, cfg=cfg: inner.inner_step(th, cfg, p, xb)[0])
    batch = x[: cfg.batch_size]
    calls[name] = lambda step=step, th=theta, p=params, xb=batch: step(th, p, xb)
    shapes[name] = common.describe(cfg, theta_size=sum(a.size for a in jax.tree.leaves(theta)))
  rows = interleaved(calls, STEP_ROUNDS, STEP_CALLS)
  return {
    "rounds": STEP_ROUNDS,
    "calls_per_round": STEP_CALLS,
    "config": shapes,
    "ms": {n: 1e3 * median_of(rows, n) for n in rules},
    "seconds_per_round": rows,
    f"ratio_to_{BASELINE}": {n: median_ratio(rows, n, BASELINE) for n in rules},
  }


def meta_gradients(rules: dict) -> dict:
  """(2): per learned variant, `jax.value_and_grad` of the mean truncated loss over TASKS
  tasks (`meta_gradient_cost.programs`) and the same forward computation; for the compact
  rule the forward alone (one PES particle)."""
  data = common.per_task(common.synthetic_data(), TASKS)
  calls, shapes, learned = {}, {}, []
  for name, r in rules.items():
    cfg = common.inner_config(rule=r)
    theta = r.init_theta(jax.random.PRNGKey(0))
    states = jax.vmap(lambda k, cfg=cfg: inner.init_task(k, common.INPUT_DIM, cfg))(
      jax.random.split(jax.random.PRNGKey(1), TASKS)
    )
    grad, forward = meta_gradient_cost.programs((cfg,), K)
    args = (theta, (states,), (data,))
    calls[f"{name}:forward"] = lambda f=forward, a=args: f(*a)
    if isinstance(r, rule.RuleConfig):
      learned.append(name)
      calls[f"{name}:gradient"] = lambda g=grad, a=args: g(*a)
    shapes[name] = common.describe(cfg, tasks=TASKS, truncation=K)
  rows = interleaved(calls, META_ROUNDS)
  seconds = {n: median_of(rows, n) for n in calls}
  out = {
    "rounds": META_ROUNDS,
    "truncation": K,
    "tasks": TASKS,
    "config": shapes,
    "seconds": seconds,
    "seconds_per_round": rows,
    "learned": {
      n: {
        "forward_seconds": seconds[f"{n}:forward"],
        "gradient_seconds": seconds[f"{n}:gradient"],
        "meta_gradient_to_forward_ratio": median_ratio(rows, f"{n}:gradient", f"{n}:forward"),
        f"gradient_ratio_to_{BASELINE}": median_ratio(
          rows, f"{n}:gradient", f"{BASELINE}:gradient"
        ),
        f"forward_ratio_to_{BASELINE}": median_ratio(rows, f"{n}:forward", f"{BASELINE}:forward"),
      }
      for n in learned
    },
    "forward_only": {
      n: {
        "forward_seconds": seconds[f"{n}:forward"],
        f"ratio_to_{BASELINE}_forward": median_ratio(rows, f"{n}:forward", f"{BASELINE}:forward"),
        f"ratio_to_{BASELINE}_gradient": median_ratio(rows, f"{n}:forward", f"{BASELINE}:gradient"),
      }
      for n in rules
      if n not in learned
    },
  }
  return out


def run() -> tuple[dict, dict]:
  rules = designs()
  steps = inner_steps(rules)
  meta = meta_gradients({n: r for n, r in rules.items() if n != "krotov_hopfield"})
  headlines = {}
  for n in rules:
    headlines[f"rule_designs_inner_step_ms_{n}"] = steps["ms"][n]
    if n != BASELINE:
      headlines[f"rule_designs_inner_step_ratio_to_learned_{n}"] = steps[f"ratio_to_{BASELINE}"][n]
  for n, r in meta["learned"].items():
    headlines[f"rule_designs_meta_gradient_to_forward_ratio_{n}"] = r[
      "meta_gradient_to_forward_ratio"
    ]
  compact = meta["forward_only"]["compact"]
  headlines["rule_designs_compact_forward_to_learned_gradient"] = compact[
    f"ratio_to_{BASELINE}_gradient"
  ]
  return headlines, {"inner_step": steps, "meta_gradient": meta}


def markdown(details: dict) -> str:
  steps, meta = details["inner_step"], details["meta_gradient"]
  ratio = steps[f"ratio_to_{BASELINE}"]
  shape = next(iter(steps["config"].values()))
  lines = [
    f"One jitted inner step ({shape['input_dim']} inputs, "
    f"{'-'.join(map(str, shape['widths']))} {shape['activation']}, batch "
    f"{shape['batch_size']}): median over {steps['rounds']} rounds of "
    f"{steps['calls_per_round']} calls each.",
    "",
    f"| rule | ms per step | ratio to {BASELINE} |",
    "| --- | --- | --- |",
  ]
  for n, ms in steps["ms"].items():
    lines.append(f"| {n} | {ms:.2f} | {ratio[n]:.2f}x |")
  lines += [
    "",
    f"Meta-gradient (truncated BPTT, k = {meta['truncation']}, {meta['tasks']} tasks "
    f"vmapped) against the same forward computation: median over {meta['rounds']} rounds.",
    "",
    f"| rule | forward s | meta-gradient s | gradient / forward | gradient ratio to {BASELINE} |",
    "| --- | --- | --- | --- | --- |",
  ]
  for n, r in meta["learned"].items():
    lines.append(
      f"| {n} | {r['forward_seconds']:.3f} | {r['gradient_seconds']:.3f} | "
      f"{r['meta_gradient_to_forward_ratio']:.2f}x | "
      f"{r[f'gradient_ratio_to_{BASELINE}']:.2f}x |"
    )
  for n, r in meta["forward_only"].items():
    lines.append(
      f"| {n} (forward only: one PES particle) | {r['forward_seconds']:.3f} | - | - | "
      f"{r[f'ratio_to_{BASELINE}_gradient']:.2f}x ({r[f'ratio_to_{BASELINE}_forward']:.2f}x "
      f"of {BASELINE}'s forward) |"
    )
  lines += [
    "",
    "Ratios are medians of per-round ratios, every variant called in turn within each round.",
  ]
  return "\n".join(lines)
