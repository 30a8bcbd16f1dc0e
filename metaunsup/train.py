"""Meta-training: improve the rule's theta by truncated backprop through unrolled inner
loops over a batch of tasks. Reads top to bottom: config -> data -> tasks -> loop -> eval.

  python -m metaunsup.train --config=experiments/configs/default.py --workdir=runs/default \
      --config.meta.steps=500
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm.auto import tqdm

from metaunsup import (api, checkpointing, data, estimators, evaluation, inner, rule,
                       sharding)
from metaunsup.config_checks import validate


def inner_config(config: ml_collections.ConfigDict) -> inner.InnerConfig:
  return inner.InnerConfig(
      rule=rule.RuleConfig.from_dict(config.rule.to_dict()),
      widths=tuple(config.model.widths), activation=config.model.activation,
      batch_size=config.inner.batch_size, permute_inputs=config.model.permute_inputs,
      shots=config.heads.shots, query_per_class=config.heads.query_per_class,
      ridge_lambda=config.heads.ridge_lambda, reference_batch=config.inner.reference_batch,
      min_total_steps=config.inner.min_total_steps,
      max_total_steps=config.inner.max_total_steps,
      remat=config.inner.get("remat", False))


def make_optimizer(meta: ml_collections.ConfigDict) -> optax.GradientTransformation:
  # apply_if_finite skips (and counts) any meta-gradient holding a NaN or inf.
  return optax.apply_if_finite(
      optax.chain(optax.clip_by_global_norm(meta.clip_norm), optax.adam(meta.learning_rate)),
      max_consecutive_errors=meta.max_consecutive_skips)


def init_tasks(key, input_dim: int, cfg: inner.InnerConfig, num_tasks: int):
  return jax.vmap(lambda k: inner.init_task(k, input_dim, cfg, random_offset=True))(
      jax.random.split(key, num_tasks))


@functools.partial(jax.jit, static_argnames=("cfg", "opt", "k"))
def meta_step(theta, opt_state, states, task_data, key, *, cfg, opt, k):
  """One meta-update; tasks that reached their length (or blew up) are re-initialised."""
  mg = estimators.truncated_bptt(theta, cfg, states, task_data, k)
  updates, opt_state = opt.update(mg.grads, opt_state, theta)
  theta = optax.apply_updates(theta, updates)
  done = (mg.states.step >= mg.states.total) | ~jnp.isfinite(mg.task_losses)
  fresh = jax.vmap(lambda k_: inner.init_task(k_, task_data.x.shape[1], cfg))(
      jax.random.split(key, done.shape[0]))
  states = jax.tree_util.tree_map(
      lambda new, old: jnp.where(done.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
      fresh, mg.states)
  metrics = {"meta_loss": mg.loss, "query_accuracy": jnp.mean(mg.task_accuracies),
             "grad_norm": optax.tree.norm(mg.grads),
             "skipped": opt_state.total_notfinite, "tasks_reset": jnp.sum(done)}
  return theta, opt_state, states, metrics


def _read_metrics(path: pathlib.Path, below_step: int) -> list[dict]:
  """Logged metrics of steps already covered by the restored checkpoint."""
  if not path.exists():
    return []
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return [r for r in rows if r["step"] < below_step]


def _check_workdir_config(workdir: pathlib.Path, config, write: bool = True) -> None:
  """Resuming is only sound with the same config; meta.steps may grow (extend a run)."""
  saved = workdir / "config.json"
  current = json.loads(config.to_json())
  if saved.exists():
    previous = json.loads(saved.read_text())
    comparable = [dict(c, meta={k: v for k, v in c["meta"].items() if k != "steps"})
                  for c in (previous, current)]
    if comparable[0] != comparable[1]:
      raise ValueError(f"{workdir} holds a run with a different config; pass a new --workdir "
                       "or delete the old one to start over")
  if write:
    checkpointing.atomic_write_json(saved, current)


def summarize(history: list[dict], config, ds_name: str, evals: dict, theta,
              rule_cfg: rule.RuleConfig) -> dict:
  losses = [r["meta_loss"] for r in history]
  n = max(1, len(losses) // 10)
  out = {"meta_loss_first": float(np.mean(losses[:n])),
         "meta_loss_last": float(np.mean(losses[-n:])),
         "meta_steps": len(losses), "seed": config.seed, "data": ds_name,
         "config": json.loads(config.to_json()),
         "skipped_meta_gradients": int(history[-1]["skipped"]) if history else 0,
         "theta_size": rule.param_count(theta),
         # What the rule learned to weigh: coefficients of its update terms, its step size.
         "rule_mix": dict(zip(rule.rule_terms_names(rule_cfg),
                              np.asarray(theta["mix"]).round(4).tolist())),
         "rule_inner_lr": float(rule.inner_lrs(theta, rule_cfg)[0]),
         "eval_seeds": list(evals["seeds"])}
  for method in ("rule", "random_init"):
    for head, accs in evals[method].items():
      mean, sem = evaluation.mean_sem(accs)
      suffix = "" if head == "ridge" else f"_{head}"
      out[f"fewshot_acc_{method}{suffix}"] = mean
      out[f"fewshot_acc_{method}{suffix}_sem"] = sem
      out[f"fewshot_acc_{method}{suffix}_per_seed"] = accs
  return out


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir) -> tuple[api.Rule, list, pathlib.Path]:
  """Meta-train (resuming from `workdir` when it holds a checkpoint), save the rule, and
  evaluate it against random initialisation on the held-out split."""
  validate(config)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  writer = sharding.is_writer()
  _check_workdir_config(workdir, config, write=writer)

  ds = data.load(config.data.name, config.data.image_size, config.data.fallback)
  cfg = inner_config(config)
  task_data = inner.make_task_data(ds.train_x, ds.train_y, ds.num_classes)
  opt = make_optimizer(config.meta)

  key = jax.random.PRNGKey(config.seed)
  key, k_theta, k_tasks = jax.random.split(key, 3)
  theta = rule.init_theta(k_theta, cfg.rule)
  state = {"theta": theta, "opt_state": opt.init(theta),
           "tasks": init_tasks(k_tasks, ds.input_dim, cfg, config.inner.num_tasks),
           "key": key, "step": jnp.asarray(0, jnp.int32)}

  # Tasks sharded over every device (and host), the rest replicated; placed before the
  # restore so that a checkpoint comes back with the same layout.
  mesh = sharding.task_mesh()
  state = sharding.place_train_state(state, mesh)
  task_data = sharding.replicate(task_data, mesh)
  mgr = checkpointing.manager(workdir)
  _, restored = checkpointing.restore_latest(mgr, state)
  if restored is not None:
    state = sharding.place_train_state(restored, mesh)
  start = int(state["step"])
  metrics_path = workdir / "metrics.jsonl"
  history = _read_metrics(metrics_path, start)
  if writer:
    checkpointing.atomic_write_bytes(
        metrics_path, "".join(json.dumps(r) + "\n" for r in history).encode())

  t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
  lengths = tuple(config.inner.truncation_lengths)
  with open(metrics_path if writer else os.devnull, "a") as log, \
       tqdm(total=config.meta.steps, initial=start, desc="meta-train", unit="step",
            disable=not writer) as bar:
    try:
      for step in range(start, config.meta.steps):
        # Host-side choice of k so each length compiles once; seeded by step for resuming.
        k = int(np.random.default_rng([config.seed, step]).choice(lengths))
        key, k_step = jax.random.split(state["key"])
        theta, opt_state, tasks, m = meta_step(state["theta"], state["opt_state"],
                                               state["tasks"], task_data, k_step,
                                               cfg=cfg, opt=opt, k=k)
        row = {"step": step, "truncation": k, "seconds": round(time.time() - t0, 3),
               **{name: float(v) for name, v in m.items()}}
        history.append(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
        # `state` changes only here, whole, so an interrupt never sees half a step.
        state = {"theta": theta, "opt_state": opt_state, "tasks": tasks, "key": key,
                 "step": sharding.replicate(np.asarray(step + 1, np.int32), mesh)}
        bar.set_postfix(loss=f"{row['meta_loss']:.3f}", acc=f"{row['query_accuracy']:.3f}")
        bar.update(1)
        if (step + 1) % config.meta.checkpoint_every == 0 or step + 1 == config.meta.steps:
          checkpointing.save_state(mgr, step + 1, state)
    except KeyboardInterrupt:
      # Ctrl-C or SIGTERM: keep every finished step; the next run resumes from here.
      done = int(state["step"])
      if done > (mgr.latest_step() or 0):
        checkpointing.save_state(mgr, done, state)
      raise

  # Host copy: evaluation runs on each process's own devices, off the global mesh.
  theta = jax.tree_util.tree_map(np.asarray, state["theta"])
  learned = api.Rule(theta=theta, config=cfg.rule,
                     meta={"seed": config.seed, "meta_steps": config.meta.steps,
                           "data": ds.name})
  if writer:
    learned.save(workdir / checkpointing.RULE_FILE)

  ev = config.eval
  widths = tuple(ev.widths) if ev.widths else cfg.widths
  seeds = [1000 + config.seed * 100 + i for i in range(ev.num_seeds)]
  evals = evaluation.fewshot_eval(learned, ds, widths=widths, activation=cfg.activation,
                                  steps=ev.inner_steps, seeds=seeds, batch_size=ev.batch_size,
                                  shots=config.heads.shots, query_size=ev.query_size,
                                  heads_=tuple(ev.heads))
  evals["seeds"] = seeds
  if writer:
    checkpointing.atomic_write_json(workdir / "summary.json",
                                    summarize(history, config, ds.name, evals, theta,
                                              cfg.rule))
  return learned, history, workdir


def main(argv):
  del argv
  import signal
  import sys
  from absl import flags, logging
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO

  def interrupt(*_):
    raise KeyboardInterrupt

  signal.signal(signal.SIGTERM, interrupt)  # a killed job checkpoints like Ctrl-C
  sharding.initialize_distributed()
  try:
    _, _, workdir = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    sys.exit(f"interrupted; rerun the same command to resume from {flags.FLAGS.workdir}")
  if not sharding.is_writer():
    return  # process 0 wrote the summary; it may not be on disk yet
  summary = json.loads((workdir / "summary.json").read_text())
  print(json.dumps({k: v for k, v in summary.items()
                    if k.startswith(("meta_loss", "fewshot_acc")) and
                    not k.endswith("per_seed")}, indent=2))


if __name__ == "__main__":
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file("config", "experiments/configs/default.py",
                                  "Meta-training config (ml_collections).")
  flags.DEFINE_string("workdir", "runs/default", "Where metrics, checkpoints and the rule go.")
  app.run(main)
