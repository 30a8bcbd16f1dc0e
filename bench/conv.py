"""What an inner step and a meta-step cost on a convolutional base network against the
MLP's (issue 38), same rule, batch and images:

- inner step: one jitted step (forward pass on a batch of 28x28 images, then the rule's
  update of every layer from its own input) of the MLP of the evaluation (64-64-32 relu on
  the flattened images) and of the issue's 2-conv-layer network (5x5x32, pool, 3x3x64,
  pool, dense 32), batch 64, for Krotov-Hopfield and the compact rule (every term,
  `init_theta`);
- meta-step: the compact rule's PES estimate (`estimators.PES`, one antithetic pair, the
  estimator of `metaunsup.configs.conv`) on META_TASKS tasks of each network, a truncation
  of META_K scored steps each (`inner.truncated_loss` with `InnerConfig.layers` for the
  conv tasks), per example of the inner steps it takes.

Synthetic images; timed interleaved as `rule_designs` times its variants (each call in turn
per round, medians of per-round ratios), so that load from other processes falls on both
networks alike. A conv layer's rule sees batch x positions rows, which is what its cost per
example pays for.

  python -m bench.run --only conv
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from bench import common, rule_designs
from metaunsup import estimators, inner
from metaunsup.conv import network
from metaunsup.conv import train as conv_train
from metaunsup.rules.compact import CompactRule
from metaunsup.rules.zoo import krotov_hopfield
from metaunsup.rules.zoo import terms as zoo_terms

IMAGE = (28, 28, 1)
CONV_LAYERS = ("conv5x5:32", "pool2", "conv3x3:64", "pool2", "dense:32")
BATCH = 64
ROUNDS = 7
CALLS_PER_ROUND = 10
META_TASKS, META_K, META_CALLS_PER_ROUND = 2, 5, 2


def rules() -> dict:
  """name -> rule config."""
  return {
    "krotov_hopfield": krotov_hopfield.KrotovHopfield(lr=zoo_terms.SWEEP_LR["krotov_hopfield"]),
    "compact": CompactRule(),
  }


def run() -> tuple[dict, dict]:
  images = np.random.default_rng(0).normal(size=(BATCH, *IMAGE)).astype(np.float32)
  flat = images.reshape(BATCH, -1)
  arch = network.architecture(CONV_LAYERS, IMAGE)
  calls = {}
  for name, r in rules().items():
    theta = r.init_theta(jax.random.PRNGKey(0))
    cfg = common.inner_config(rule=r, batch_size=BATCH)
    params = inner.init_task(jax.random.PRNGKey(1), flat.shape[1], cfg).params
    mlp = jax.jit(lambda th, p, xb, cfg=cfg: inner.inner_step(th, cfg, p, xb)[0])
    calls[f"{name}:mlp"] = lambda f=mlp, th=theta, p=params: f(th, p, flat)
    conv_params = network.init(jax.random.PRNGKey(1), arch)
    conv = jax.jit(
      lambda th, p, xb, r=r: conv_train.inner_step(r, th, arch, p, xb, "relu"),
    )
    calls[f"{name}:conv"] = lambda f=conv, th=theta, p=conv_params: f(th, p, images)
  rows = rule_designs.interleaved(calls, ROUNDS, CALLS_PER_ROUND)
  ms = {n: 1e3 * rule_designs.median_of(rows, n) for n in calls}
  ratios = {n: rule_designs.median_ratio(rows, f"{n}:conv", f"{n}:mlp") for n in rules()}
  meta = meta_steps(images)
  details = {
    "rounds": ROUNDS,
    "calls_per_round": CALLS_PER_ROUND,
    "batch_size": BATCH,
    "image": list(IMAGE),
    "conv_layers": list(CONV_LAYERS),
    "mlp_widths": list(common.inner_config().widths),
    "ms_per_step": ms,
    "us_per_example": {n: 1e3 * v / BATCH for n, v in ms.items()},
    "conv_to_mlp_ratio": ratios,
    "seconds_per_round": rows,
    "meta_step": meta,
  }
  headlines = {f"conv_to_mlp_inner_step_ratio_{n}": v for n, v in ratios.items()}
  headlines["conv_to_mlp_meta_step_ratio_compact"] = meta["conv_to_mlp_ratio"]
  return headlines, details


def meta_steps(images: np.ndarray) -> dict:
  """The compact rule's PES estimate on MLP tasks and on conv tasks of the same images,
  timed interleaved: seconds per call, per example of its inner steps, and their ratio."""
  rule = CompactRule()
  theta = rule.init_theta(jax.random.PRNGKey(0))
  mlp_cfg = common.inner_config(rule=rule, batch_size=BATCH, num_classes=2, shots=2)
  mlp_cfg = dataclasses.replace(mlp_cfg, query_per_class=2, reference_batch=BATCH)
  conv_cfg = dataclasses.replace(mlp_cfg, layers=CONV_LAYERS, image_shape=IMAGE[:2])
  flat = images.reshape(len(images), -1)
  data = inner.make_task_data(flat, np.arange(len(flat)) % 2, 2)
  data = jax.tree_util.tree_map(lambda a: np.broadcast_to(a, (META_TASKS, *a.shape)), data)
  pes = estimators.PES(sigma=0.03, pairs=1)
  calls = {}
  for name, cfg in (("mlp", mlp_cfg), ("conv", conv_cfg)):
    keys = jax.random.split(jax.random.PRNGKey(1), META_TASKS)
    states = jax.vmap(lambda k, cfg=cfg: inner.init_task(k, flat.shape[1], cfg))(keys)
    est = pes.init(theta, states)
    truncation = estimators.inner_truncation(cfg, META_K)
    step = jax.jit(
      lambda th, e, s, d, t=truncation: pes.estimate(th, e, s, d, jax.random.PRNGKey(2), t).grads
    )
    calls[name] = lambda f=step, e=est, s=states: f(theta, e, s, data)
  rows = rule_designs.interleaved(calls, ROUNDS, META_CALLS_PER_ROUND)
  seconds = {n: rule_designs.median_of(rows, n) for n in calls}
  # Two particles (+, -) per task, META_K scored steps of BATCH examples each.
  examples = META_TASKS * 2 * META_K * BATCH
  return {
    "tasks": META_TASKS,
    "truncation": META_K,
    "particles_per_task": 2,
    "ms_per_call": {n: 1e3 * v for n, v in seconds.items()},
    "us_per_example": {n: 1e6 * v / examples for n, v in seconds.items()},
    "conv_to_mlp_ratio": rule_designs.median_ratio(rows, "conv", "mlp"),
  }


def markdown(details: dict) -> str:
  lines = [
    f"Batch {details['batch_size']} of {'x'.join(map(str, details['image']))} images; MLP "
    f"{'-'.join(map(str, details['mlp_widths']))} relu on the flattened images, conv "
    f"{', '.join(details['conv_layers'])}.",
    "",
    "| rule | MLP ms/step | conv ms/step | MLP µs/example | conv µs/example | conv / MLP |",
    "| --- | --- | --- | --- | --- | --- |",
  ]
  ms, us = details["ms_per_step"], details["us_per_example"]
  for name, ratio in details["conv_to_mlp_ratio"].items():
    lines.append(
      f"| {name} | {ms[name + ':mlp']:.2f} | {ms[name + ':conv']:.2f} | "
      f"{us[name + ':mlp']:.1f} | {us[name + ':conv']:.1f} | {ratio:.1f}x |"
    )
  meta = details.get("meta_step")
  if meta:
    ms, us = meta["ms_per_call"], meta["us_per_example"]
    lines += [
      "",
      f"Meta-step: the compact rule's PES estimate, {meta['tasks']} tasks x "
      f"{meta['particles_per_task']} particles x {meta['truncation']} scored steps.",
      "",
      "| MLP ms | conv ms | MLP µs/example | conv µs/example | conv / MLP |",
      "| --- | --- | --- | --- | --- |",
      f"| {ms['mlp']:.1f} | {ms['conv']:.1f} | {us['mlp']:.1f} | {us['conv']:.1f} | "
      f"{meta['conv_to_mlp_ratio']:.1f}x |",
    ]
  return "\n".join(lines)
