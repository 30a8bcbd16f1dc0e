"""Meta-training: improve the rule's theta with a meta-gradient estimator (truncated backprop
through unrolled inner loops by default; PES or ES) over a batch of tasks. Reads top to
bottom: config -> data -> tasks -> loop -> eval.

  python -m metaunsup.train --config=experiments/configs/default.py --workdir=runs/default \
      --config.meta.steps=500
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm.auto import tqdm

from metaunsup import (api, checkpointing, data, default_config, estimators, evaluation,
                       file_faults, inner, monitoring, rule, sharding, sources, task_family)
from metaunsup.config_checks import validate


def inner_config(config: ml_collections.ConfigDict) -> inner.InnerConfig:
  """The settings every task shares; the task family fills in shapes and augmentations
  per bucket."""
  return inner.InnerConfig(
      rule=rule.RuleConfig.from_dict(config.rule.to_dict()),
      permute_inputs=config.family.permute_inputs, shots=config.heads.shots,
      query_per_class=config.heads.query_per_class, ridge_lambda=config.heads.ridge_lambda,
      reference_batch=config.inner.reference_batch,
      min_total_steps=config.inner.min_total_steps,
      max_total_steps=config.inner.max_total_steps,
      remat=config.inner.get("remat", False))


def make_optimizer(meta: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """clip + adam behind apply_if_finite, which skips (and counts) any meta-gradient holding
  a NaN or inf. Its `max_consecutive_errors` would *apply* the update after that many skips
  in a row; set out of reach here, so a non-finite update never reaches theta. The loop
  stops the run after `meta.max_consecutive_skips` in a row instead (`_check_skips`)."""
  return optax.apply_if_finite(
      optax.chain(optax.clip_by_global_norm(meta.clip_norm), optax.adam(meta.learning_rate)),
      max_consecutive_errors=np.iinfo(np.int32).max)


class NonFiniteMetaGradientError(ValueError):
  """meta.max_consecutive_skips meta-gradients in a row held a NaN or inf."""


def _check_skips(opt_state, step: int, limit: int, workdir: pathlib.Path) -> None:
  """Stop, before this step's state is saved anywhere, after `limit` skips in a row."""
  in_a_row = int(opt_state.notfinite_count)
  if in_a_row >= limit:
    raise NonFiniteMetaGradientError(
        f"{in_a_row} non-finite meta-gradients in a row (up to step {step}, "
        f"config.meta.max_consecutive_skips={limit}); theta was never updated with them and "
        f"the last good checkpoint in {workdir / 'checkpoints'} is kept: lower "
        "meta.learning_rate or meta.clip_norm, or check the data, then rerun to resume")


def _metrics_line(row: dict) -> str:
  """Strict JSON: NaN or inf written as null (checkpointing.dumps), read back as NaN."""
  return checkpointing.dumps(row) + "\n"


def init_tasks(key, input_dim: int, cfg: inner.InnerConfig, num_tasks: int):
  return jax.vmap(lambda k: inner.init_task(k, input_dim, cfg, random_offset=True))(
      jax.random.split(key, num_tasks))


def init_family_tasks(key, family: task_family.TaskFamily) -> tuple:
  """Every bucket's tasks, at random offsets into their lengths."""
  return tuple(init_tasks(k, b.input_dim, b.cfg, b.num_tasks) for k, b in
               zip(jax.random.split(key, len(family.buckets)), family.buckets))


def _reset_finished(key, cfg: inner.InnerConfig, mg: estimators.MetaGradient, input_dim: int):
  """Tasks that reached their length (or blew up) start again from a fresh network."""
  done = (mg.states.step >= mg.states.total) | ~jnp.isfinite(mg.task_losses)
  fresh = jax.vmap(lambda k_: inner.init_task(k_, input_dim, cfg))(
      jax.random.split(key, done.shape[0]))
  return estimators.base.tree_where(done, fresh, mg.states), done


def init_estimator_states(estimator, theta, tasks) -> tuple:
  """The estimator's own state of every bucket's tasks (() for a stateless one)."""
  return tuple(estimator.init(theta, states) for states in tasks)


@functools.partial(jax.jit, static_argnames=("cfgs", "opt", "k", "estimator", "advance_steps",
                                             "objective"))
def meta_step(theta, opt_state, tasks, est_states, task_data, key, *, cfgs, opt, k,
              estimator=estimators.TruncatedBPTT(), advance_steps: int = 0,
              objective: estimators.Objective = estimators.Objective()):
  """One meta-update from every bucket (one vmapped program per bucket shape, all in one
  jitted step). Each task is unrolled k scored steps, then `advance_steps` forward-only
  ones; `estimator` (static) forms the meta-gradient, the mean over all tasks of all
  buckets. Returns (theta, opt_state, tasks, est_states, dones, metrics)."""
  grads, new_tasks, new_est, dones, losses, accs = [], [], [], [], [], []
  for cfg, states, est_state, bucket_data, k_bucket in zip(
      cfgs, tasks, est_states, task_data, jax.random.split(key, len(cfgs))):
    truncation = estimators.inner_truncation(cfg, k, advance_steps, objective)
    mg = estimator.estimate(theta, est_state, states, bucket_data,
                            jax.random.fold_in(k_bucket, 1), truncation)
    states, done = _reset_finished(k_bucket, cfg, mg, bucket_data.x.shape[-1])
    weight = done.shape[0]
    grads.append(jax.tree_util.tree_map(lambda g: g * weight, mg.grads))
    new_tasks.append(states)
    new_est.append(estimators.reset(estimator, theta, mg.estimator_state, states, done))
    dones.append(done)
    losses.append(mg.task_losses)
    accs.append(mg.task_accuracies)
  total = sum(d.shape[0] for d in dones)
  grads = jax.tree_util.tree_map(lambda *g: sum(g) / total, *grads)
  updates, opt_state = opt.update(grads, opt_state, theta)
  theta = optax.apply_updates(theta, updates)
  metrics = {"meta_loss": jnp.mean(jnp.concatenate(losses)),
             "query_accuracy": jnp.mean(jnp.concatenate(accs)),
             "grad_norm": optax.tree.norm(grads),
             "skipped": opt_state.total_notfinite,
             "tasks_reset": sum(jnp.sum(d) for d in dones),
             "bucket_loss": jnp.stack([jnp.mean(l) for l in losses])}
  return theta, opt_state, tuple(new_tasks), tuple(new_est), tuple(dones), metrics


def warm_start_theta(path, rule_cfg: rule.RuleConfig) -> dict:
  """theta of the rule at `path` (a rule file or a meta-training workdir) to start from:
  `meta.init_rule`, fine-tuning a shipped rule on a new task family.

  Raises:
    FileNotFoundError: nothing loadable at `path`.
    ValueError: its theta does not have the shapes `rule_cfg` needs (one line).
  """
  loaded = api.load_rule(path)
  expected = jax.eval_shape(lambda: rule.init_theta(jax.random.PRNGKey(0), rule_cfg))
  for name in sorted(set(expected) | set(loaded.theta)):
    got = tuple(jnp.shape(loaded.theta[name])) if name in loaded.theta else None
    want = expected[name].shape if name in expected else None
    if got != want:
      theirs, ours = dataclasses.asdict(loaded.config), dataclasses.asdict(rule_cfg)
      differ = {f: theirs[f] for f in ours if theirs.get(f) != ours[f]}
      raise ValueError(f"config.meta.init_rule={path}: its theta[{name!r}] has shape {got}, "
                       f"config.rule needs {want}; set config.rule to the rule's own "
                       f"settings {differ}")
  return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), loaded.theta)


def _read_metrics(path: pathlib.Path, below_step: int) -> list[dict]:
  """Logged metrics of steps already covered by the restored checkpoint (null -> NaN).
  A line that does not read back (a kill -9 mid-write, a disk fault) is dropped with a
  warning: the log is rewritten from the rest and the run goes on."""
  if not path.exists():
    return []
  rows, bad = [], 0
  for line in path.read_bytes().decode("utf-8", "replace").splitlines():
    try:
      r = json.loads(line) if line.strip() else None
      if isinstance(r, dict):
        rows.append(checkpointing.nan_for_null(r, keep=()))
      elif r is not None:
        bad += 1
    except json.JSONDecodeError:
      bad += 1
  if bad:
    print(f"warning: {path}: dropped {bad} damaged line(s); the log is rewritten without "
          "them", file=sys.stderr)
  return [r for r in rows if isinstance(r.get("step"), int) and r["step"] < below_step]


def _changed_fields(previous: dict, current: dict, prefix: str = "") -> list[str]:
  """Dotted names of the config fields that differ."""
  out = []
  for k in sorted(set(previous) | set(current)):
    a, b = previous.get(k, "<missing>"), current.get(k, "<missing>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += _changed_fields(a, b, f"{prefix}{k}.")
    elif a != b:
      out.append(f"{prefix}{k} ({a!r} -> {b!r})")
  return out


def _with_added_fields(previous: dict) -> dict:
  """A saved config with the fields added to the default config since it was written, at
  their defaults: each new field's default reproduces the code it was saved with, so an
  older workdir still resumes unless the new config sets a new field otherwise."""
  out = {k: dict(v) if isinstance(v, dict) else v for k, v in previous.items()}
  for section, fields in json.loads(default_config.get_config().to_json()).items():
    if isinstance(fields, dict) and isinstance(out.get(section), dict):
      for field, value in fields.items():
        out[section].setdefault(field, value)
  return out


def _check_workdir_config(workdir: pathlib.Path, config, write: bool = True) -> None:
  """Resuming is only sound with the same config; meta.steps may grow (extend a run)."""
  saved = workdir / "config.json"
  current = json.loads(config.to_json())
  if saved.exists():
    try:
      previous = _with_added_fields(json.loads(saved.read_text()))
      comparable = [dict(c, meta={k: v for k, v in c["meta"].items() if k != "steps"})
                    for c in (previous, current)]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise file_faults.damaged(saved, e, "if you resume with the same config, delete it "
                                "(it is rewritten from --config); else pass a new --workdir") from None
    changed = _changed_fields(*comparable)
    if changed:
      raise ValueError(f"{workdir} holds a run with a different config "
                       f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}); "
                       "pass a new --workdir or delete the old one to start over")
  if write:
    checkpointing.atomic_write_json(saved, current)


def _accuracy_summary(evals: dict) -> dict:
  out = {}
  for method in ("rule", "random_init"):
    for head, accs in evals[method].items():
      mean, sem = evaluation.mean_sem(accs)
      suffix = "" if head == "ridge" else f"_{head}"
      out[f"fewshot_acc_{method}{suffix}"] = mean
      out[f"fewshot_acc_{method}{suffix}_sem"] = sem
      out[f"fewshot_acc_{method}{suffix}_per_seed"] = accs
  return out


def summarize(history: list[dict], config, family: task_family.TaskFamily, evals: dict,
              theta, rule_cfg: rule.RuleConfig) -> dict:
  """summary.json: meta-training curve ends, data-loading cost, the learned mix, and
  few-shot accuracy per held-out data set (the first one also at top level)."""
  losses = [r["meta_loss"] for r in history]
  n = max(1, len(losses) // 10)
  data_s = np.median([r["data_seconds"] for r in history])
  step_s = np.median([r["step_seconds"] for r in history[1:] or history])
  out = {"meta_loss_first": float(np.mean(losses[:n])),
         "meta_loss_last": float(np.mean(losses[-n:])),
         "meta_steps": len(losses), "seed": config.seed,
         "config": json.loads(config.to_json()),
         "buckets": family.describe(),
         "skipped_meta_gradients": int(history[-1]["skipped"]) if history else 0,
         # Host-side data loading per meta-step against the jitted step (medians).
         "data_seconds_median": float(data_s), "step_seconds_median": float(step_s),
         "data_to_step_ratio": float(data_s / step_s),
         "theta_size": rule.param_count(theta),
         # What the rule learned to weigh: coefficients of its update terms, its step size.
         "rule_mix": dict(zip(rule.rule_terms_names(rule_cfg),
                              np.asarray(theta["mix"]).round(4).tolist())),
         "rule_inner_lr": float(rule.inner_lrs(theta, rule_cfg)[0]),
         "eval_seeds": list(evals["seeds"]),
         "eval": {name: _accuracy_summary(e) for name, e in evals["datasets"].items()}}
  out["eval_data"] = next(iter(out["eval"]))
  out.update(out["eval"][out["eval_data"]])
  return out


def read_summary(workdir) -> dict:
  """WORKDIR/summary.json as written by `summarize`, NaN where an accuracy or loss was not
  finite (strict JSON holds null there)."""
  return checkpointing.read_json(
      pathlib.Path(workdir) / "summary.json", "rerun the `make meta-train` command that wrote "
      "it: it resumes from the run's last checkpoint and writes summary.json again")


def evaluate(learned: api.Rule, config) -> dict:
  """The learned rule against random init on each held-out evaluation data set."""
  ev = config.eval
  seeds = [1000 + config.seed * 100 + i for i in range(ev.num_seeds)]
  out = {"seeds": seeds, "datasets": {}}
  for name in ev.datasets:
    ds = data.load(name, ev.image_size)
    out["datasets"][name] = evaluation.fewshot_eval(
        learned, ds, widths=tuple(ev.widths), activation=ev.activation,
        steps=ev.inner_steps, seeds=seeds, batch_size=ev.batch_size,
        shots=config.heads.shots, query_size=ev.query_size, heads_=tuple(ev.heads))
  return out


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir) -> tuple[api.Rule, list, pathlib.Path]:
  """Meta-train on the task family (resuming from `workdir` when it holds a checkpoint),
  save the rule, and evaluate it against random initialisation on held-out data."""
  validate(config)
  for name in config.eval.datasets:  # a missing one fails now, not after meta-training
    sources.get(name, "test")
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise ValueError(f"--workdir {workdir} is a file; pass a folder (new or of this run)")
  workdir.mkdir(parents=True, exist_ok=True)
  writer = sharding.is_writer()
  _check_workdir_config(workdir, config, write=writer)

  family = task_family.TaskFamily(config, inner_config(config))
  cfgs = tuple(b.cfg for b in family.buckets)
  opt = make_optimizer(config.meta)
  estimator = estimators.from_config(config.meta)
  objective = estimators.objective_from_config(config.meta)
  advance_steps = int(config.inner.get("advance_steps", 0))

  key = jax.random.PRNGKey(config.seed)
  key, k_theta, k_tasks = jax.random.split(key, 3)
  theta = rule.init_theta(k_theta, cfgs[0].rule)
  if config.meta.get("init_rule"):
    theta = warm_start_theta(config.meta.init_rule, cfgs[0].rule)
  tasks = init_family_tasks(k_tasks, family)
  state = {"theta": theta, "opt_state": opt.init(theta), "tasks": tasks,
           "datasets": family.initial_datasets(),
           "key": key, "step": jnp.asarray(0, jnp.int32)}
  est_states = init_estimator_states(estimator, theta, tasks)
  if jax.tree_util.tree_leaves(est_states):  # PES's particles and accumulators
    state["estimator"] = est_states

  # Tasks sharded over every device (and host), the rest replicated; placed before the
  # restore so that a checkpoint comes back with the same layout.
  mesh = sharding.task_mesh()
  state = sharding.place_train_state(state, mesh)
  mgr = checkpointing.manager(workdir)
  _, restored = checkpointing.restore_latest(mgr, state)
  if restored is not None:
    state = sharding.place_train_state(restored, mesh)
  start = int(state["step"])
  metrics_path = workdir / "metrics.jsonl"
  history = _read_metrics(metrics_path, start)
  if writer:
    checkpointing.atomic_write_bytes(metrics_path, "".join(map(_metrics_line, history)).encode())

  t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
  lengths = tuple(config.inner.truncation_lengths)
  board = monitoring.MetricsWriter(workdir, start, enabled=writer)  # WORKDIR/tensorboard
  with open(metrics_path if writer else os.devnull, "a") as log, \
       tqdm(total=config.meta.steps, initial=start, desc="meta-train", unit="step",
            disable=not writer) as bar:
    try:
      for step in range(start, config.meta.steps):
        # Host-side choice of k so each length compiles once; seeded by step for resuming.
        k = int(np.random.default_rng([config.seed, step]).choice(lengths))
        key, k_step = jax.random.split(state["key"])
        task_data, data_seconds = family.step_data(step, sharding.to_host(state["datasets"]))
        task_data = tuple(sharding.shard_tasks(d, mesh) for d in task_data)
        t_step = time.perf_counter()
        theta, opt_state, tasks, est_states, done, m = meta_step(
            state["theta"], state["opt_state"], state["tasks"],
            state.get("estimator", est_states), task_data, k_step, cfgs=cfgs, opt=opt, k=k,
            estimator=estimator, advance_steps=advance_steps, objective=objective)
        m = jax.device_get(m)
        _check_skips(opt_state, step, config.meta.max_consecutive_skips, workdir)
        row = {"step": step, "truncation": k, "seconds": round(time.time() - t0, 3),
               "data_seconds": round(data_seconds, 4),
               "step_seconds": round(time.perf_counter() - t_step, 4),
               **{name: float(v) for name, v in m.items() if name != "bucket_loss"},
               "bucket_loss": [round(float(v), 4) for v in m["bucket_loss"]]}
        history.append(row)
        log.write(_metrics_line(row))
        log.flush()
        board.write(row)
        datasets = sharding.replicate(family.reassign(
            step, sharding.to_host(state["datasets"]), sharding.to_host(done)), mesh)
        # `state` changes only here, whole, so an interrupt never sees half a step.
        state = {"theta": theta, "opt_state": opt_state, "tasks": tasks,
                 "datasets": datasets, "key": key,
                 "step": sharding.replicate(np.asarray(step + 1, np.int32), mesh),
                 **({"estimator": est_states} if "estimator" in state else {})}
        bar.set_postfix(loss=f"{row['meta_loss']:.3f}", acc=f"{row['query_accuracy']:.3f}")
        bar.update(1)
        if (step + 1) % config.meta.checkpoint_every == 0 or step + 1 == config.meta.steps:
          checkpointing.save_state(mgr, step + 1, state)
    except KeyboardInterrupt:
      # Ctrl-C or SIGTERM: keep every finished step; the next run resumes from here.
      done_steps = int(state["step"])
      if done_steps > (mgr.latest_step() or 0):
        checkpointing.save_state(mgr, done_steps, state)
      raise
    finally:
      board.close()

  # Host copy: evaluation runs on each process's own devices, off the global mesh.
  theta = jax.tree_util.tree_map(np.asarray, state["theta"])
  learned = api.Rule(theta=theta, config=cfgs[0].rule,
                     meta={"seed": config.seed, "meta_steps": config.meta.steps,
                           "data": list(config.family.datasets)})
  if writer:
    learned.save(workdir / checkpointing.RULE_FILE)
    monitoring.write_curves(history, workdir)
  evals = evaluate(learned, config)
  if writer:
    checkpointing.atomic_write_json(workdir / "summary.json",
                                    summarize(history, config, family, evals, theta,
                                              cfgs[0].rule))
  return learned, history, workdir


def main(argv):
  del argv
  import signal
  from absl import flags, logging
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO

  def interrupt(*_):
    raise KeyboardInterrupt

  signal.signal(signal.SIGTERM, interrupt)  # a killed job checkpoints like Ctrl-C
  sharding.initialize_distributed()
  try:
    _, _, workdir = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  except (ValueError, FileNotFoundError, file_faults.WriteFailedError) as e:
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
  from metaunsup.config_checks import parse_flags
  app.run(main, flags_parser=parse_flags)
