"""Meta-training: improve the rule's theta with a meta-gradient estimator (truncated backprop
through unrolled inner loops by default; PES or ES) over a batch of tasks (Metz et al., ICLR
2019). Reads top to bottom: config -> data -> tasks -> loop -> eval. The parts live in
`metaunsup.training`: the family, static pieces and initial state of a run (setup), the
jitted meta-step and optimiser (meta_step), truncation lengths (truncation_schedule; task
resets are the inner problem's), the typed state (state), the run's folder (workdir) and its
lock (workdir_lock), and the config's validation (config_checks).

  python -m metaunsup.train --config=default --workdir=runs/default --config.meta.steps=500
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from metaunsup import (
  checkpointing,
  compile_cache,
  file_faults,
  local_rule,
  monitoring,
  sharding,
  sources,
)
from metaunsup.rule_files import Rule
from metaunsup.training import (
  truncation_schedule,
  validation,
  workdir as workdir_lib,
  workdir_lock,
)
from metaunsup.training.config_checks import complete, validate
from metaunsup.training.meta_step import check_skips, meta_step
from metaunsup.training.setup import check_trainable, inner_config, rule_of, setup, with_rule
from metaunsup.training.state import warm_start_theta

__all__ = ["train_and_evaluate", "inner_config", "main"]


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir, rule: local_rule.LocalRule | None = None
) -> tuple[Rule, list, pathlib.Path]:
  """Meta-train on the task family (resuming from `workdir` when it holds a checkpoint),
  save the rule, and evaluate it against random initialisation on held-out data.

  Args:
    config: a meta-training config (`metaunsup.configs.default`).
    workdir: the run's folder (created if missing): config.json, checkpoints/,
      metrics.jsonl (with the validation curve's val_* fields every validation.every
      steps: `training.validation`), tensorboard/, curves.png, rule.msgpack, summary.json.
    rule: a rule to meta-train in place of the one `config.rule` names: any registered
      `local_rule.LocalRule` with meta-parameters. It becomes config.rule
      ({"kind": rule.kind, **rule.to_dict()}), so config.json records it and a resumed
      run checks it.

  Returns:
    (rule, history, workdir): the learned Rule, one metrics dict per meta-step, the folder.

  Raises:
    ValueError: a bad config value (`meta.init_rule` included), a workdir that is a file or
      holds another run, an unknown rule kind, or a rule with nothing to meta-train; then
      nothing is written (a workdir this call created is removed again).
    TypeError: `rule` is not an instance of a registered rule class.
    FileNotFoundError: a data set (or the rule `meta.init_rule` names) is not there.
    WorkdirInUseError: another run is in progress in `workdir` (its lock is held).
    NonFiniteMetaGradientError: meta.max_consecutive_skips non-finite meta-gradients in a row.
    WriteFailedError, DamagedFileError: the disk is full, or the run's files do not read back.
    KeyboardInterrupt: Ctrl-C or SIGTERM, after saving every finished step.
  """
  # Everything that can refuse the run is checked before any file is written, so that a
  # refused run leaves the workdir as it found it (and the corrected command then starts).
  config = complete(config)  # fields added since the config was written, at their defaults
  # config.rule as the rule's stored form: config.json names its kind (configs written
  # before kinds: "learned") and every field.
  rule = rule if rule is not None else rule_of(config)
  config = with_rule(config, rule)
  validate(config)
  check_trainable(rule)  # nothing to learn: one line, before any file is written
  if config.meta.init_rule:  # a typo in the warm start (zoo:KIND:lr=nan, a missing file)
    warm_start_theta(config.meta.init_rule, rule)
  for name in config.eval.datasets:  # a missing one fails now, not after meta-training
    sources.get(name, "test")
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise ValueError(f"--workdir {workdir} is a file; pass a folder (new or of this run)")
  writer = sharding.is_writer()
  # One run per workdir: process 0 (the one that writes) locks it before its first write; a
  # second run there refuses at once. A folder this call creates is removed if the run is
  # refused before writing into it.
  with workdir_lock.claim(workdir, lock=writer):
    return _meta_train(config, workdir, writer)


def _meta_train(
  config: ml_collections.ConfigDict, workdir: pathlib.Path, writer: bool
) -> tuple[Rule, list, pathlib.Path]:
  """`train_and_evaluate` in its claimed workdir: the set-up (which reads the data and
  refuses a workdir of another run) before config.json, then the loop and the evaluation."""
  workdir_lib.check_workdir_config(workdir, config, write=False)  # before the slow set-up
  # Tasks sharded over every device (and host), the rest replicated; placed before the
  # restore so that a checkpoint comes back with the same layout.
  mesh = sharding.task_mesh()
  family, static, state = setup(config, mesh=mesh)
  workdir_lib.check_workdir_config(workdir, config, write=writer)
  mgr = checkpointing.manager(workdir)
  _, restored = checkpointing.restore_latest(mgr, state.to_checkpoint())
  if restored is not None:
    state = state.from_checkpoint(sharding.place_train_state(restored, mesh))
  start = int(state.step)
  metrics_path = workdir / "metrics.jsonl"
  history = workdir_lib.read_metrics(metrics_path, start)
  if writer:
    checkpointing.atomic_write_bytes(
      metrics_path, "".join(map(workdir_lib.metrics_line, history)).encode()
    )

  every = config.validation.every
  validator = validation.Validator(config, family, static.cfgs[0].rule) if every else None
  t0 = time.time() - (history[-1]["seconds"] if history else 0.0)
  lengths = tuple(config.inner.truncation_lengths)
  board = monitoring.MetricsWriter(workdir, start, enabled=writer)  # WORKDIR/tensorboard
  with (
    open(metrics_path if writer else os.devnull, "a") as log,
    tqdm(
      total=config.meta.steps, initial=start, desc="meta-train", unit="step", disable=not writer
    ) as bar,
  ):
    try:
      for step in range(start, config.meta.steps):
        # The rule before this step's update, as the step's meta-loss scores it: every
        # `every` steps, and at a run's last step, so that a short run's curve has an end.
        val = (
          validator(sharding.to_host(state.theta))
          if validator is not None and (step % every == 0 or step == config.meta.steps - 1)
          else {}
        )
        k = truncation_schedule.truncation_length(config.seed, step, lengths)
        task_data, data_seconds = family.step_data(step, sharding.to_host(state.datasets))
        task_data = tuple(sharding.shard_tasks(d, mesh) for d in task_data)
        t_step = time.perf_counter()
        stepped, done, m = meta_step(state, task_data, static=static, k=k)
        m = jax.device_get(m)
        check_skips(stepped.opt_state, step, config.meta.max_consecutive_skips, workdir)
        row = {
          "step": step,
          "truncation": k,
          "seconds": round(time.time() - t0, 3),
          "data_seconds": round(data_seconds, 4),
          "step_seconds": round(time.perf_counter() - t_step, 4),
          **{name: float(v) for name, v in m.items() if name != "bucket_loss"},
          "bucket_loss": [round(float(v), 4) for v in m["bucket_loss"]],
          **val,
        }
        history.append(row)
        log.write(workdir_lib.metrics_line(row))
        log.flush()
        board.write(row)
        datasets = sharding.replicate(
          family.reassign(step, sharding.to_host(state.datasets), sharding.to_host(done)), mesh
        )
        # `state` changes only here, whole, so an interrupt never sees half a step.
        state = stepped.replace(datasets=datasets)
        shown = {"loss": f"{row['meta_loss']:.3f}", "acc": f"{row['query_accuracy']:.3f}"}
        if validator is not None:
          # The latest validation with the step it scored: it runs every validation.every
          # steps, so a value alone would read as this step's.
          shown["val"] = next(
            (
              f"{r['val_accuracy']:.3f}@{r['step']}"
              for r in reversed(history)
              if "val_accuracy" in r
            ),
            "-",
          )
        bar.set_postfix(shown)
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
  learned = Rule(
    theta=theta,
    config=static.cfgs[0].rule,
    meta={
      "seed": config.seed,
      "meta_steps": config.meta.steps,
      "data": list(config.family.datasets),
    },
  )
  if writer:
    learned.save(workdir / checkpointing.RULE_FILE)
    monitoring.write_curves(history, workdir)
  evals = workdir_lib.heldout_eval(learned, config)
  if writer:
    checkpointing.atomic_write_json(
      workdir / "summary.json",
      workdir_lib.summarize_run(history, config, family, evals, theta, static.cfgs[0].rule),
    )
  return learned, history, workdir


def main(argv):
  """The CLI (`python -m metaunsup.train --config=... --workdir=...`); prints the summary's
  losses and accuracies.

  Args:
    argv: what absl leaves after the flags (unused).

  Raises:
    SystemExit: one line on a bad config, missing data, a workdir in use by another run,
      a full disk or an interrupt (rerun the same command to resume).
  """
  del argv
  import signal
  from absl import flags, logging

  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO

  def interrupt(*_):
    raise KeyboardInterrupt

  signal.signal(signal.SIGTERM, interrupt)  # a killed job checkpoints like Ctrl-C
  compile_cache.enable()  # a rerun or a resume does not compile again
  sharding.initialize_distributed()
  try:
    _, _, workdir = train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
  except (
    ValueError,
    FileNotFoundError,
    file_faults.WriteFailedError,
    workdir_lock.WorkdirInUseError,
  ) as e:
    sys.exit(f"error: {e}")
  except KeyboardInterrupt:
    sys.exit(f"interrupted; rerun the same command to resume from {flags.FLAGS.workdir}")
  if not sharding.is_writer():
    return  # process 0 wrote the summary; it may not be on disk yet
  summary = json.loads((workdir / "summary.json").read_text())
  print(
    json.dumps(
      {
        k: v
        for k, v in summary.items()
        if k.startswith(("meta_loss", "fewshot_acc", "val_accuracy")) and not k.endswith("per_seed")
      },
      indent=2,
    )
  )


if __name__ == "__main__":
  import functools
  from absl import app, flags
  from ml_collections import config_flags
  from metaunsup import configs
  from metaunsup.flags import parse_flags

  config_flags.DEFINE_config_file(
    "config",
    configs.path("default"),
    f"Meta-training config: a packaged one ({', '.join(configs.TRAIN)}) or a file "
    "path/to/config.py; --config.SECTION.FIELD=VALUE overrides a field.",
  )
  flags.DEFINE_string("workdir", "runs/default", "Where metrics, checkpoints and the rule go.")
  app.run(main, flags_parser=functools.partial(parse_flags, config_names=configs.TRAIN))
