"""Means over the batch axis, XLA's way and the rule's way: `jnp.mean(h, 0)` (a reduction
over the leading axis) against `base_model.leading_mean` (the same mean as a matrix-vector
product), and batch norm with autodiff's gradient against the rule's hand-written one, on
the rule's per-unit state shapes [B, units, H]. On XLA's CPU backend the leading-axis
reduction falls off a cliff once the tensor outgrows the cache, which is why the rule uses
the product form."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bench import common
from metaunsup import base_model, rule

SHAPES = ((64, 196, 32), (64, 784, 32), (128, 256, 32))  # [B, units, H]
REPEATS = 7


def _plain_batch_norm(h):
  return (h - jnp.mean(h, 0)) * jax.lax.rsqrt(jnp.var(h, 0) + 1e-3)


def _vjp(fn):
  return jax.jit(lambda h, g: jax.vjp(fn, h)[1](g))


def run() -> tuple[dict, dict]:
  rows = []
  for shape in SHAPES:
    h = jax.random.normal(jax.random.PRNGKey(0), shape)
    g = jax.random.normal(jax.random.PRNGKey(1), shape)
    t = {
      "mean_xla": common.median_seconds(jax.jit(lambda h: jnp.mean(h, 0)), h, repeats=REPEATS),
      "mean_matvec": common.median_seconds(jax.jit(base_model.leading_mean), h, repeats=REPEATS),
      "bn_xla": common.median_seconds(jax.jit(_plain_batch_norm), h, repeats=REPEATS),
      "bn_rule": common.median_seconds(jax.jit(rule._bn_batch), h, repeats=REPEATS),
      "bn_grad_autodiff": common.median_seconds(_vjp(_plain_batch_norm), h, g, repeats=REPEATS),
      "bn_grad_rule": common.median_seconds(_vjp(rule._bn_batch), h, g, repeats=REPEATS),
    }
    rows.append(
      {
        "shape": list(shape),
        "seconds": t,
        "mean_speedup": t["mean_xla"] / t["mean_matvec"],
        "bn_speedup": t["bn_xla"] / t["bn_rule"],
        "bn_grad_speedup": t["bn_grad_autodiff"] / t["bn_grad_rule"],
      }
    )
  at_784 = next(r for r in rows if r["shape"][1] == 784)
  return (
    {
      "batch_norm_speedup_784": at_784["bn_speedup"],
      "batch_norm_grad_speedup_784": at_784["bn_grad_speedup"],
    },
    {"repeats": REPEATS, "rows": rows},
  )


def markdown(details: dict) -> str:
  lines = [
    "| [B, units, H] | mean: XLA ms | matvec ms | batch norm: XLA ms | rule ms | "
    "its gradient: autodiff ms | rule ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ]
  for r in details["rows"]:
    t = {k: v * 1e3 for k, v in r["seconds"].items()}
    lines.append(
      f"| {r['shape']} | {t['mean_xla']:.2f} | {t['mean_matvec']:.2f} "
      f"({r['mean_speedup']:.1f}x) | {t['bn_xla']:.2f} | {t['bn_rule']:.2f} "
      f"({r['bn_speedup']:.1f}x) | {t['bn_grad_autodiff']:.2f} | "
      f"{t['bn_grad_rule']:.2f} ({r['bn_grad_speedup']:.1f}x) |"
    )
  return "\n".join(lines)
