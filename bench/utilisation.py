"""How much of this machine's matmul throughput one jitted inner step uses: XLA's FLOP
count over the measured time, against a large f32 matmul timed in the same process. With
the diagnosis when it falls short: the share of FLOPs in matmuls (counted on the jaxpr),
op counts, and the base network's forward pass alone."""

from __future__ import annotations

import collections
import math

import jax
import jax.numpy as jnp

from bench import common
from metaunsup import base_model, inner

WIDTHS = (64, 256, 1024)  # base network widths (w, w, w)
BATCH = 128
REPEATS = 5


def _sub_jaxprs(eqn):
  for value in eqn.params.values():
    for v in value if isinstance(value, (tuple, list)) else (value,):
      if hasattr(v, "eqns"):
        yield v
      elif hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):
        yield v.jaxpr


def jaxpr_op_mix(jaxpr, counts=None) -> collections.Counter:
  """FLOPs by kind on the traced program: dot_general exactly (2 * out * contracted),
  every other op as one FLOP per element of its largest operand or result; and op counts."""
  counts = collections.Counter() if counts is None else counts
  for eqn in jaxpr.eqns:
    subs = list(_sub_jaxprs(eqn))
    if subs:
      for sub in subs:
        jaxpr_op_mix(sub, counts)
      continue
    counts[f"ops/{eqn.primitive.name}"] += 1
    if eqn.primitive.name == "dot_general":
      (contract, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      out = eqn.outvars[0].aval.shape
      counts["flops/matmul"] += 2 * math.prod(out) * math.prod(lhs[d] for d in contract)
    else:
      sizes = [
        math.prod(getattr(v.aval, "shape", ()))
        for v in eqn.invars + eqn.outvars
        if hasattr(v, "aval")
      ]
      counts["flops/other"] += max(sizes, default=0)
  return counts


def _measure(fn, *args) -> dict:
  compiled = jax.jit(fn).lower(*args).compile()
  flops = common.flops(compiled)
  seconds = common.median_seconds(compiled, *args, repeats=REPEATS)
  return {"flops": flops, "seconds": seconds, "gflops": flops / seconds / 1e9}


def matmul_kernels(width: int, cfg) -> list[dict]:
  """The step's main matmul shapes alone, at `width`: how fast XLA runs each shape here,
  which bounds the step however well the rest is fused."""
  B, n, C, H, R = BATCH, width, cfg.rule.channels, cfg.rule.hidden, cfg.rule.readout_rank
  k = jax.random.PRNGKey(0)
  cases = {
    "feedback d V^T (bjc,ij->bic)": (
      lambda a, b: jnp.einsum("bjc,ij->bic", a, b),
      (B, n, C),
      (n, n),
      2 * B * n * n * C,
    ),
    "low-rank outer (bir,bjr->rij)": (
      lambda a, b: jnp.einsum("bir,bjr->rij", a, b),
      (B, n, R),
      (B, n, R),
      2 * B * n * n * R,
    ),
    "unit network h @ [H, H]": (jnp.matmul, (B, n, H), (H, H), 2 * B * n * H * H),
    "readout h @ [H, R]": (jnp.matmul, (B, n, H), (H, R), 2 * B * n * H * R),
  }
  rows = []
  for name, (fn, a_shape, b_shape, flops) in cases.items():
    a, b = jax.random.normal(k, a_shape), jax.random.normal(k, b_shape)
    seconds = common.median_seconds(jax.jit(fn), a, b, repeats=REPEATS)
    rows.append(
      {"kernel": name, "flops": flops, "seconds": seconds, "gflops": flops / seconds / 1e9}
    )
  return rows


def run() -> tuple[dict, dict]:
  peak = common.peak_matmul_gflops()
  data = common.synthetic_data()
  rows = []
  for w in WIDTHS:
    cfg = common.inner_config(widths=(w, w, w), batch_size=BATCH)
    theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
    params = inner.init_task(jax.random.PRNGKey(1), common.INPUT_DIM, cfg).params
    x = data.x[:BATCH]
    step = _measure(lambda p, x: inner.inner_step(theta, cfg, p, x)[0], params, x)
    forward = _measure(lambda p, x: base_model.apply(p, x, cfg.activation).xs, params, x)
    mix = jaxpr_op_mix(
      jax.make_jaxpr(lambda p, x: inner.inner_step(theta, cfg, p, x)[0])(params, x).jaxpr
    )
    counted = mix["flops/matmul"] + mix["flops/other"]
    top_ops = dict(
      sorted(((k[4:], v) for k, v in mix.items() if k.startswith("ops/")), key=lambda kv: -kv[1])[
        :8
      ]
    )
    rows.append(
      {
        "width": w,
        "widths": [w, w, w],
        "batch": BATCH,
        "step_flops": step["flops"],
        "step_seconds": step["seconds"],
        "step_gflops": step["gflops"],
        "peak_fraction": step["gflops"] / peak["gflops"],
        "forward_seconds": forward["seconds"],
        "forward_time_fraction": forward["seconds"] / step["seconds"],
        "matmul_flop_fraction": mix["flops/matmul"] / counted,
        "op_count": sum(v for k, v in mix.items() if k.startswith("ops/")),
        "top_ops": top_ops,
      }
    )
  by_width = {r["width"]: r for r in rows}
  details = {
    "config": common.describe(
      common.inner_config(batch_size=BATCH), widths_tested="(w, w, w)", repeats=REPEATS
    ),
    "peak_matmul": peak,
    "rows": rows,
    "matmul_kernels_w256": matmul_kernels(256, common.inner_config()),
  }
  return {
    "inner_step_peak_fraction_w256": by_width[256]["peak_fraction"],
    "peak_matmul_gflops": peak["gflops"],
  }, details


def markdown(details: dict) -> str:
  p = details["peak_matmul"]
  lines = [
    f"Peak: {p['n']}x{p['n']} f32 matmul, {p['gflops']:.1f} GFLOP/s.",
    "",
    "| widths | batch | step GFLOP (XLA) | step ms | GFLOP/s | of peak | matmul share "
    "of FLOPs | forward alone, share of step time | ops |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for r in details["rows"]:
    lines.append(
      f"| {r['width']}-{r['width']}-{r['width']} | {r['batch']} | "
      f"{r['step_flops'] / 1e9:.3f} | {r['step_seconds'] * 1e3:.1f} | "
      f"{r['step_gflops']:.1f} | {r['peak_fraction']:.0%} | "
      f"{r['matmul_flop_fraction']:.0%} | {r['forward_time_fraction']:.0%} | "
      f"{r['op_count']} |"
    )
  lines += [
    "",
    "The step's main matmul shapes alone at width 256 (batch 128):",
    "",
    "| kernel | GFLOP/s | of peak |",
    "| --- | --- | --- |",
  ]
  for r in details["matmul_kernels_w256"]:
    lines.append(f"| {r['kernel']} | {r['gflops']:.1f} | {r['gflops'] / p['gflops']:.0%} |")
  return "\n".join(lines)
