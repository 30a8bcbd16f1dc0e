"""A meta-training run's folder (WORKDIR): its config (checked on resume, older configs
completed with fields added since), the metrics log, the held-out evaluation and
summary.json.

  WORKDIR/config.json     the run's config (strict JSON)
  WORKDIR/metrics.jsonl   one JSON row per meta-step (NaN or inf written as null)
  WORKDIR/summary.json    `summarize_run`'s summary, read back by `read_summary`
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import numpy as np

from metaunsup import (
  checkpointing,
  data,
  evaluation,
  file_faults,
  local_rule,
  task_family,
)
from metaunsup.configs import default as default_config
from metaunsup.evaluation import fewshot
from metaunsup.rule_files import Rule
from metaunsup.training import config_checks


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
  older workdir still resumes unless the new config sets a new field otherwise. A rule
  section without a kind is the learned rule's (written before kinds); one of another kind
  keeps its own fields (the default config's are the learned rule's). A section added whole
  since (`config_checks.ADDED_SECTIONS`) comes in at the values that reproduce that code."""
  out = {k: dict(v) if isinstance(v, dict) else v for k, v in previous.items()}
  for section, values in config_checks.ADDED_SECTIONS.items():
    out.setdefault(section, dict(values))
  for section, fields in json.loads(default_config.get_config().to_json()).items():
    if isinstance(fields, dict) and isinstance(out.get(section), dict):
      if section == "rule":
        out[section].setdefault("kind", local_rule.DEFAULT_KIND)
        if out[section]["kind"] != fields["kind"]:
          continue
      for field, value in fields.items():
        out[section].setdefault(field, value)
  return out


def check_workdir_config(workdir: pathlib.Path, config, write: bool = True) -> None:
  """Resuming is only sound with the same config; meta.steps may grow (extend a run).

  Args:
    workdir: the run's folder.
    config: this run's ml_collections.ConfigDict.
    write: (re)write WORKDIR/config.json from `config` (process 0 only).

  Raises:
    ValueError: the workdir holds a run with another config (one line: the fields).
    DamagedFileError: its config.json does not read back (one line naming it).
    WriteFailedError: config.json cannot be written (full disk).
  """
  saved = workdir / "config.json"
  current = json.loads(config.to_json())
  if saved.exists():
    fix = (
      "if you resume with the same config, delete it (it is rewritten from --config); "
      "else pass a new --workdir"
    )
    # Unreadable, not JSON, or JSON of another shape: one line naming the file.
    previous = checkpointing.read_json(saved, fix, keep=None)
    try:
      comparable = [
        dict(c, meta={k: v for k, v in c["meta"].items() if k != "steps"})
        for c in (_with_added_fields(previous), _with_added_fields(current))
      ]
      kinds = [c.get("rule", {}).get("kind") for c in comparable]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise file_faults.damaged(saved, e, fix) from None
    if kinds[0] != kinds[1]:  # before the list of fields, which would be all of them
      raise ValueError(
        f"{workdir} holds a run of the {kinds[0]!r} rule, this config's "
        f"rule.kind is {kinds[1]!r}; pass a new --workdir or delete the old "
        "one to start over"
      )
    changed = _changed_fields(comparable[0], comparable[1])
    if changed:
      raise ValueError(
        f"{workdir} holds a run with a different config "
        f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}); "
        "pass a new --workdir or delete the old one to start over"
      )
  if write:
    checkpointing.atomic_write_json(saved, current)


def metrics_line(row: dict) -> str:
  """One metrics.jsonl line: strict JSON, NaN or inf written as null (checkpointing.dumps),
  read back as NaN by `read_metrics`.

  Args:
    row: a meta-step's metrics.

  Returns:
    The line, newline included.
  """
  return checkpointing.dumps(row) + "\n"


def read_metrics(path: pathlib.Path, below_step: int) -> list[dict]:
  """Logged metrics of steps already covered by the restored checkpoint (null -> NaN).
  A line that does not read back (a kill -9 mid-write, a disk fault) is dropped with a
  warning: the log is rewritten from the rest and the run goes on.

  Args:
    path: WORKDIR/metrics.jsonl (may not exist).
    below_step: the first meta-step not covered (the restored checkpoint's step).

  Returns:
    The rows with 0 <= step < below_step, in file order.
  """
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
    print(
      f"warning: {path}: dropped {bad} damaged line(s); the log is rewritten without them",
      file=sys.stderr,
    )
  return [r for r in rows if isinstance(r.get("step"), int) and r["step"] < below_step]


def heldout_eval(learned: Rule, config) -> dict:
  """The learned rule against random init on each held-out evaluation data set
  (`config.eval`): a base network trained by the rule on the unlabeled train split, read
  out with `config.heads.shots` labels per class by `make evaluate`'s protocol
  (`evaluation.fewshot_eval`: train-split support, class-balanced test query of
  `eval.query_size`; Metz et al., ICLR 2019).

  Args:
    learned: the meta-trained Rule.
    config: the run's config (`eval`, `heads.shots`, `seed`).

  Returns:
    {"seeds": [S] evaluation seeds, "datasets": {name: evaluation.fewshot_eval's result
    plus "protocol", the words of `evaluation.fewshot.PROTOCOLS` it used}}.

  Raises:
    FileNotFoundError: an evaluation data set is not prepared.
  """
  ev = config.eval
  seeds = config_checks.eval_seeds(config)
  out: dict[str, Any] = {"seeds": seeds, "datasets": {}}
  for name in ev.datasets:
    ds = data.load(name, ev.image_size)
    out["datasets"][name] = dict(
      evaluation.fewshot_eval(
        learned,
        ds,
        widths=tuple(ev.widths),
        activation=ev.activation,
        steps=ev.inner_steps,
        seeds=seeds,
        batch_size=ev.batch_size,
        shots=config.heads.shots,
        query_size=ev.query_size,
        heads_=tuple(ev.heads),
        support_split="train",
        layers=tuple(ev.conv_layers.split()),
      ),
      protocol=fewshot.PROTOCOLS["train"],
    )
  return out


def _accuracy_summary(evals: dict) -> dict:
  # The protocol lands at the top level too, with the first data set's accuracies.
  out = {"eval_protocol": evals["protocol"]}
  for method in ("rule", "random_init"):
    for head, accs in evals[method].items():
      mean, sem = evaluation.mean_sem(accs)
      suffix = "" if head == "ridge" else f"_{head}"
      out[f"fewshot_acc_{method}{suffix}"] = mean
      out[f"fewshot_acc_{method}{suffix}_sem"] = sem
      out[f"fewshot_acc_{method}{suffix}_per_seed"] = accs
  return out


def finite_mean(values: list[float]) -> float:
  """The mean of the finite values, NaN where none is (one skipped meta-step's NaN loss
  made a run's whole meta_loss_last NaN).

  Args:
    values: losses, some possibly NaN or inf.

  Returns:
    float.
  """
  finite = [v for v in values if v is not None and np.isfinite(v)]
  return float(np.mean(finite)) if finite else float("nan")


def summarize_run(
  history: list[dict],
  config,
  family: task_family.TaskFamily,
  evals: dict,
  theta,
  rule_cfg: local_rule.LocalRule,
) -> dict:
  """summary.json: meta-training curve ends, data-loading cost, what the rule learned
  (its own `summary`), and few-shot accuracy per held-out data set (the first one also at
  top level).

  Args:
    history: one metrics row per meta-step (as in metrics.jsonl).
    config: the run's config.
    family: its task family (bucket descriptions).
    evals: `heldout_eval`'s result.
    theta: the learned meta-parameters.
    rule_cfg: their rule (any registered kind).

  Returns:
    The summary dict: meta_loss_first/last (means over the first/last tenth of the steps,
    of their finite losses: a skipped step's loss is NaN or inf and moved nothing),
    data/step seconds (medians), theta_size, the rule's `summary(theta)` entries (the
    learned rule's rule_mix and rule_inner_lr), fewshot_acc_* (mean, sem, per seed)
    per data set under "eval", and with validation rows the validation curve's ends
    (val_accuracy_first/last, val_accuracy_random_init, ...: `_validation_summary`).
  """
  losses = [r["meta_loss"] for r in history]
  n = max(1, len(losses) // 10)
  data_s = np.median([r["data_seconds"] for r in history])
  step_s = np.median([r["step_seconds"] for r in history[1:] or history])
  out = {
    "meta_loss_first": finite_mean(losses[:n]),
    "meta_loss_last": finite_mean(losses[-n:]),
    "meta_steps": len(losses),
    "seed": config.seed,
    "config": json.loads(config.to_json()),
    "buckets": family.describe(),
    "skipped_meta_gradients": int(history[-1]["skipped"]) if history else 0,
    # Host-side data loading per meta-step against the jitted step (medians).
    "data_seconds_median": float(data_s),
    "step_seconds_median": float(step_s),
    "data_to_step_ratio": float(data_s / step_s),
    "theta_size": local_rule.param_count(theta),
    # What the rule learned (the learned rule: the weights of its update terms and its
    # step size), as the rule itself reports it.
    **rule_cfg.summary(theta),
    "eval_seeds": list(evals["seeds"]),
    "eval": {name: _accuracy_summary(e) for name, e in evals["datasets"].items()},
  }
  out["eval_data"] = next(iter(out["eval"]))
  out.update(out["eval"][out["eval_data"]])
  out.update(_validation_summary(history))
  return out


def _validation_summary(history: list[dict]) -> dict:
  """The validation curve's ends (`training.validation`): accuracy of its first and last
  rows with their steps, random init's, and its share of the run's wall time; nothing for
  a run without validation rows."""
  rows = [r for r in history if "val_accuracy" in r]
  if not rows:
    return {}
  first, last = rows[0], rows[-1]
  return {
    "val_accuracy_first": first["val_accuracy"],
    "val_step_first": first["step"],
    "val_accuracy_last": last["val_accuracy"],
    "val_step_last": last["step"],
    "val_accuracy_by_dataset_last": last["val_accuracy_by_dataset"],
    "val_accuracy_random_init": last["val_accuracy_random_init"],
    "val_random_init_by_dataset": last["val_random_init_by_dataset"],
    "val_seconds_median": float(np.median([r["val_seconds"] for r in rows])),
    "val_share_of_run": float(
      sum(r["val_seconds"] for r in rows) / max(history[-1]["seconds"], 1e-9)
    ),
  }


def read_summary(workdir) -> dict:
  """WORKDIR/summary.json as written by `summarize_run`, NaN where an accuracy or loss was
  not finite (strict JSON holds null there).

  Args:
    workdir: the run's folder.

  Returns:
    The summary dict.

  Raises:
    FileNotFoundError: no summary.json (the run has not finished).
    DamagedFileError: it does not parse.
  """
  return checkpointing.read_json(
    pathlib.Path(workdir) / "summary.json",
    f"{checkpointing.RERUN}: it resumes from the run's last checkpoint and writes "
    "summary.json again",
  )
