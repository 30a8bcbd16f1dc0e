"""Meta-training: improve the rule's theta with a meta-gradient estimator (truncated backprop
through unrolled inner loops by default; PES or ES) over a batch of tasks (Metz et al., ICLR
2019). Reads top to bottom: config -> data -> tasks -> loop -> eval. The parts live in
`metaunsup.training`: the jitted meta-step and optimiser (meta_step), truncation lengths and
task resets (truncation_schedule), the typed state (state), the run's folder (workdir) and
the config's validation (config_checks).

  python -m metaunsup.train --config=experiments/configs/default.py --workdir=runs/default \
      --config.meta.steps=500
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from metaunsup import (checkpointing, estimators, file_faults, inner, monitoring, rule, sharding,
                       sources, task_family)
from metaunsup.rule_files import Rule
from metaunsup.training import truncation_schedule, workdir as workdir_lib
from metaunsup.training.config_checks import validate
from metaunsup.training.meta_step import (check_skips, init_estimator_states, make_optimizer,
                                          meta_step)
from metaunsup.training.state import MetaTrainState, warm_start_theta

def inner_config(config: ml_collections.ConfigDict) -> inner.InnerConfig:
  """The settings every task shares; the task family fills in shapes and augmentations
  per bucket.

  Args:
    config: a meta-training config (`metaunsup.default_config`).

  Returns:
    inner.InnerConfig of the rule, readout and task lengths (default widths and shapes).
  """
  return inner.InnerConfig(
      rule=rule.RuleConfig.from_dict(config.rule.to_dict()),
      permute_inputs=config.family.permute_inputs, shots=config.heads.shots,
      query_per_class=config.heads.query_per_class, ridge_lambda=config.heads.ridge_lambda,
      reference_batch=config.inner.reference_batch,
      min_total_steps=config.inner.min_total_steps,
      max_total_steps=config.inner.max_total_steps,
      remat=config.inner.get("remat", False))


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir) -> tuple[Rule, list, pathlib.Path]:
  """Meta-train on the task family (resuming from `workdir` when it holds a checkpoint),
  save the rule, and evaluate it against random initialisation on held-out data.

  Args:
    config: a meta-training config (`metaunsup.default_config`).
    workdir: the run's folder (created if missing): config.json, checkpoints/,
      metrics.jsonl, tensorboard/, rule.msgpack, summary.json.

  Returns:
    (rule, history, workdir): the learned Rule, one metrics dict per meta-step, the folder.

  Raises:
    ValueError: a bad config value, a workdir that is a file or holds another run.
    FileNotFoundError: a data set is not prepared.
    NonFiniteMetaGradientError: meta.max_consecutive_skips non-finite meta-gradients in a row.
    WriteFailedError, DamagedFileError: the disk is full, or the run's files do not read back.
    KeyboardInterrupt: Ctrl-C or SIGTERM, after saving every finished step.
  """
  validate(config)
  for name in config.eval.datasets:  # a missing one fails now, not after meta-training
    sources.get(name, "test")
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise ValueError(f"--workdir {workdir} is a file; pass a folder (new or of this run)")
  workdir.mkdir(parents=True, exist_ok=True)
  writer = sharding.is_writer()
  workdir_lib.check_workdir_config(workdir, config, write=writer)

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
  tasks = truncation_schedule.init_family_tasks(k_tasks, family)
  state = MetaTrainState(theta=theta, opt_state=opt.init(theta), tasks=tasks,
                         datasets=family.initial_datasets(), key=key,
                         step=jnp.asarray(0, jnp.int32),
                         estimator=init_estimator_states(estimator, theta, tasks))

  # Tasks sharded over every device (and host), the rest replicated; placed before the
  # restore so that a checkpoint comes back with the same layout.
  mesh = sharding.task_mesh()
  state = state.from_checkpoint(sharding.place_train_state(state.to_checkpoint(), mesh))
  mgr = checkpointing.manager(workdir)
  _, restored = checkpointing.restore_latest(mgr, state.to_checkpoint())
  if restored is not None:
    state = state.from_checkpoint(sharding.place_train_state(restored, mesh))
  start = int(state.step)
  metrics_path = workdir / "metrics.jsonl"
  history = workdir_lib.read_metrics(metrics_path, start)
  if writer:
    checkpointing.atomic_write_bytes(
        metrics_path, "".join(map(workdir_lib.metrics_line, history)).encode())

  t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
  lengths = tuple(config.inner.truncation_lengths)
  board = monitoring.MetricsWriter(workdir, start, enabled=writer)  # WORKDIR/tensorboard
  with open(metrics_path if writer else os.devnull, "a") as log, \
       tqdm(total=config.meta.steps, initial=start, desc="meta-train", unit="step",
            disable=not writer) as bar:
    try:
      for step in range(start, config.meta.steps):
        k = truncation_schedule.truncation_length(config.seed, step, lengths)
        key, k_step = jax.random.split(state.key)
        task_data, data_seconds = family.step_data(step, sharding.to_host(state.datasets))
        task_data = tuple(sharding.shard_tasks(d, mesh) for d in task_data)
        t_step = time.perf_counter()
        theta, opt_state, tasks, est_states, done, m = meta_step(
            state.theta, state.opt_state, state.tasks, state.estimator, task_data, k_step,
            cfgs=cfgs, opt=opt, k=k, estimator=estimator, advance_steps=advance_steps,
            objective=objective)
        m = jax.device_get(m)
        check_skips(opt_state, step, config.meta.max_consecutive_skips, workdir)
        row = {"step": step, "truncation": k, "seconds": round(time.time() - t0, 3),
               "data_seconds": round(data_seconds, 4),
               "step_seconds": round(time.perf_counter() - t_step, 4),
               **{name: float(v) for name, v in m.items() if name != "bucket_loss"},
               "bucket_loss": [round(float(v), 4) for v in m["bucket_loss"]]}
        history.append(row)
        log.write(workdir_lib.metrics_line(row))
        log.flush()
        board.write(row)
        datasets = sharding.replicate(family.reassign(
            step, sharding.to_host(state.datasets), sharding.to_host(done)), mesh)
        # `state` changes only here, whole, so an interrupt never sees half a step.
        state = MetaTrainState(theta=theta, opt_state=opt_state, tasks=tasks,
                               datasets=datasets, key=key,
                               step=sharding.replicate(np.asarray(step + 1, np.int32), mesh),
                               estimator=est_states)
        bar.set_postfix(loss=f"{row['meta_loss']:.3f}", acc=f"{row['query_accuracy']:.3f}")
        bar.update(1)
        if (step + 1) % config.meta.checkpoint_every == 0 or step + 1 == config.meta.steps:
          checkpointing.save_state(mgr, step + 1, state.to_checkpoint())
    except KeyboardInterrupt:
      # Ctrl-C or SIGTERM: keep every finished step; the next run resumes from here.
      done_steps = int(state.step)
      if done_steps > (mgr.latest_step() or 0):
        checkpointing.save_state(mgr, done_steps, state.to_checkpoint())
      raise
    finally:
      board.close()

  # Host copy: evaluation runs on each process's own devices, off the global mesh.
  theta = jax.tree_util.tree_map(np.asarray, state.theta)
  learned = Rule(theta=theta, config=cfgs[0].rule,
                 meta={"seed": config.seed, "meta_steps": config.meta.steps,
                       "data": list(config.family.datasets)})
  if writer:
    learned.save(workdir / checkpointing.RULE_FILE)
    monitoring.write_curves(history, workdir)
  evals = workdir_lib.heldout_eval(learned, config)
  if writer:
    checkpointing.atomic_write_json(workdir / "summary.json",
                                    workdir_lib.summarize_run(history, config, family, evals,
                                                              theta, cfgs[0].rule))
  return learned, history, workdir


def main(argv):
  """The CLI (`python -m metaunsup.train --config=... --workdir=...`); prints the summary's
  losses and accuracies.

  Args:
    argv: what absl leaves after the flags (unused).

  Raises:
    SystemExit: one line on a bad config, missing data, a full disk or an interrupt
      (rerun the same command to resume).
  """
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
  from metaunsup.flags import parse_flags
  app.run(main, flags_parser=parse_flags)
