"""results.md of an evaluation: the headline table (every method at one inner step, one
number of labels per class), paired differences of the rule against each baseline, and the
curves, shots, sweep, ELBO and supervised-fit tables behind it. Pure text from results.json."""

from __future__ import annotations

import numpy as np

from metaunsup.evaluation import methods as methods_lib
from metaunsup.evaluation.stats import mean_sem
from metaunsup.evaluation.sweeps import SWEEP_KINDS


def name(method: str) -> str:
  """The name the tables print for a method (`methods.display_name`: the registry's).

  Args:
    method: a method name of the records.

  Returns:
    Its display name, e.g. 'learned rule' for 'rule'.
  """
  return methods_lib.display_name(method)


def report_step(results: dict, dataset: str | None = None) -> int:
  """The inner step the headline reports: config.report_step (default: the last
  checkpoint), or for a data set with a step cap the last checkpoint within it.

  Args:
    results: an evaluation's results (results.json, `pipeline.run`).
    dataset: a data set spec; None: ignore step caps.

  Returns:
    The step, in inner steps.
  """
  cfg = results["config"]
  step = int(cfg["report_step"]) if cfg["report_step"] is not None else max(cfg["checkpoints"])
  cap = cfg["step_caps"].get(dataset)
  if cap is not None and step > cap:
    step = max(c for c in cfg["checkpoints"] if c <= cap)
  return step


def headline_shots(results: dict) -> int:
  """The labels per class the headline reports: 10 if evaluated, else the most.

  Args:
    results: an evaluation's results.

  Returns:
    Labelled examples per class.
  """
  shots = results["config"]["shots"]
  return 10 if 10 in shots else max(shots)


def per_seed(
  results: dict, dataset: str, method: str, shots: int, head: str, step: int | None = None
) -> dict:
  """One cell's accuracy per seed.

  Args:
    results: an evaluation's results.
    dataset: the data set spec.
    method: a method of the records; curve methods (`methods.is_curve`) are read at `step`.
    shots: labelled examples per class.
    head: 'ridge' or 'logistic'.
    step: the inner step of a curve method (default: `report_step`); ignored otherwise.

  Returns:
    {seed: accuracy}, empty if the cell was not evaluated.
  """
  curve = methods_lib.is_curve(method)
  if curve:
    step = report_step(results, dataset) if step is None else step
  out = {}
  for r in results["records"]:
    if (r["dataset"], r["method"], r["shots"], r["head"]) == (dataset, method, shots, head) and (
      not curve or r["step"] == step
    ):
      out[r["seed"]] = r["accuracy"]
  return out


def _cell(values) -> str:
  if not values:
    return "—"
  if not np.all(np.isfinite(list(values))):
    return "diverged"  # some seed's features were non-finite at this step
  mean, sem = mean_sem(list(values))
  return f"{mean:.3f} ± {sem:.3f}" if np.isfinite(sem) else f"{mean:.3f}"


def paired(a: dict, b: dict) -> tuple[float, float]:
  """The paired difference of two methods (same init, same labels per seed).

  Args:
    a: {seed: accuracy} of one method.
    b: {seed: accuracy} of another.

  Returns:
    (mean, sem) of a - b over the seeds both have (`stats.mean_sem`).
  """
  seeds = sorted(set(a) & set(b))
  return mean_sem([a[s] - b[s] for s in seeds])


def verdict(diff: float, sem: float) -> str:
  """Words for a paired difference: bold 'wins' / 'loses' beyond 2 standard errors.

  Args:
    diff: the mean paired difference (accuracy).
    sem: its standard error (NaN or 0 with a single seed).

  Returns:
    '**wins**', '**loses**', 'level', plain 'wins' / 'loses' without a standard error, or
    'n/a (diverged)' for a NaN difference.
  """
  if not np.isfinite(diff):
    return "n/a (diverged)"
  if not np.isfinite(sem) or sem == 0:
    return "wins" if diff > 0 else "loses" if diff < 0 else "level"
  if abs(diff) < 2 * sem:
    return "level"
  return "**wins**" if diff > 0 else "**loses**"


def _datasets(results) -> list[str]:
  return list(results["config"]["datasets"])


def _methods(results) -> list[str]:
  return list(results["config"]["methods"])


def headline(results: dict, head: str) -> list[str]:
  """The headline table: every method per data set at the report step and headline shots,
  and the rule against the best other method.

  Args:
    results: an evaluation's results.
    head: 'ridge' or 'logistic'.

  Returns:
    Markdown table lines.
  """
  shots = headline_shots(results)
  methods = _methods(results)
  others = [m for m in methods if m != "rule"]
  lines = [
    f"| data | step | {' | '.join(name(m) for m in methods)} | rule vs best other |",
    "|" + " --- |" * (len(methods) + 3),
  ]
  for ds in _datasets(results):
    accs = {m: per_seed(results, ds, m, shots, head) for m in methods}
    row = [_cell(accs[m].values()) for m in methods]
    last = "—"
    if "rule" in accs and others:
      best = max(others, key=lambda m: np.mean(list(accs[m].values()) or [-1]))
      d, s = paired(accs["rule"], accs[best])
      last = f"{d:+.3f} ± {s:.3f} vs {name(best)}: {verdict(d, s)}"
    lines.append(f"| {ds} | {report_step(results, ds)} | {' | '.join(row)} | {last} |")
  return lines


def differences(results: dict, head: str) -> list[str]:
  """The rule minus each other method, paired, per data set, with verdicts.

  Args:
    results: an evaluation's results.
    head: 'ridge' or 'logistic'.

  Returns:
    Markdown table lines.
  """
  shots = headline_shots(results)
  others = [m for m in _methods(results) if m != "rule"]
  lines = [
    f"| data | {' | '.join('rule − ' + name(m) for m in others)} |",
    "|" + " --- |" * (len(others) + 1),
  ]
  for ds in _datasets(results):
    rule_acc = per_seed(results, ds, "rule", shots, head)
    cells = []
    for m in others:
      d, s = paired(rule_acc, per_seed(results, ds, m, shots, head))
      cells.append(f"{d:+.3f} ± {s:.3f} {verdict(d, s)}")
    lines.append(f"| {ds} | {' | '.join(cells)} |")
  return lines


def shots_table(results: dict, dataset: str, head: str) -> list[str]:
  """Accuracy of every method against labels per class, on one data set.

  Args:
    results: an evaluation's results.
    dataset: the data set spec.
    head: 'ridge' or 'logistic'.

  Returns:
    Markdown table lines.
  """
  shots = results["config"]["shots"]
  lines = [
    f"| method | {' | '.join(f'{s} / class' for s in shots)} |",
    "|" + " --- |" * (len(shots) + 1),
  ]
  for m in _methods(results):
    lines.append(
      f"| {name(m)} | "
      + " | ".join(_cell(per_seed(results, dataset, m, s, head).values()) for s in shots)
      + " |"
    )
  return lines


def curve_table(results: dict, dataset: str, head: str) -> list[str]:
  """Accuracy of the curve methods at every inner-step checkpoint, on one data set.

  Args:
    results: an evaluation's results.
    dataset: the data set spec.
    head: 'ridge' or 'logistic'.

  Returns:
    Markdown table lines.
  """
  shots = headline_shots(results)
  methods = [m for m in _methods(results) if methods_lib.is_curve(m)]
  lines = [
    f"| inner steps | {' | '.join(name(m) for m in methods)} |",
    "|" + " --- |" * (len(methods) + 1),
  ]
  for step in sorted(results["config"]["checkpoints"]):
    lines.append(
      f"| {step} | "
      + " | ".join(
        _cell(per_seed(results, dataset, m, shots, head, step).values()) for m in methods
      )
      + " |"
    )
  return lines


def sweep_table(results: dict, kind: str) -> list[str]:
  """The rule against random init at every point of one sweep.

  Args:
    results: an evaluation's results.
    kind: one of sweeps.SWEEP_KINDS.

  Returns:
    Markdown table lines.
  """
  sw = results["config"]["sweep"]
  recs = [r for r in results["sweep_records"] if r["sweep"] == kind]
  lines = [
    f"| {kind[:-1]} | network | learned rule | random init | rule − random init |",
    "| --- | --- | --- | --- | --- |",
  ]
  for value in sw[kind]:
    acc = {
      m: {r["seed"]: r["accuracy"] for r in recs if r["value"] == value and r["method"] == m}
      for m in ("rule", "random_init")
    }
    net = next((r for r in recs if r["value"] == value), None)
    if net is None:
      continue
    d, s = paired(acc["rule"], acc["random_init"])
    lines.append(
      f"| {value} | {'-'.join(map(str, net['widths']))} {net['activation']} | "
      f"{_cell(acc['rule'].values())} | {_cell(acc['random_init'].values())} | "
      f"{d:+.3f} ± {s:.3f} {verdict(d, s)} |"
    )
  return lines


def _extras_table(
  results: dict, field: str, key: str, columns, value: str, fmt: str, header
) -> list[str]:
  """Rows of data sets, columns of `key` values: the mean of `value` over seeds."""
  lines = [
    f"| data | {' | '.join(header(c) for c in columns)} |",
    "|" + " --- |" * (len(columns) + 1),
  ]
  for ds, ext in results["extras"].items():
    if ext[field]:
      cells = []
      for c in columns:
        vals = [e[value] for e in ext[field] if e[key] == c]
        cells.append(format(np.mean(vals), fmt) if vals else "—")
      lines.append(f"| {ds} | {' | '.join(cells)} |")
  return lines


def elbo_table(results: dict) -> list[str]:
  """The VAE's held-aside ELBO (nats per example) at every checkpoint, mean over seeds.

  Args:
    results: an evaluation's results.

  Returns:
    Markdown table lines.
  """
  return _extras_table(
    results, "vae_elbo", "step", sorted(results["config"]["checkpoints"]), "elbo", ".1f", str
  )


def supervised_table(results: dict) -> list[str]:
  """The supervised baseline's accuracy on its own labelled examples, mean over seeds.

  Args:
    results: an evaluation's results.

  Returns:
    Markdown table lines.
  """
  return _extras_table(
    results,
    "supervised_train_accuracy",
    "shots",
    results["config"]["shots"],
    "accuracy",
    ".3f",
    lambda s: f"{s} / class",
  )


def markdown(results: dict) -> str:
  """results.md: the setup, the headline per head, the paired differences, and the shots,
  curve, sweep, ELBO and supervised-fit tables.

  Args:
    results: an evaluation's results.

  Returns:
    The Markdown text.
  """
  cfg, rule_meta = results["config"], results["rule"]
  shots, step = headline_shots(results), report_step(results)
  heads = cfg["heads"]
  lines = [
    "# Evaluation",
    "",
    f"Rule: `{results['rule']['path']}`"
    + (
      f" ({', '.join(f'{k} {v}' for k, v in rule_meta['meta'].items())})."
      if rule_meta["meta"]
      else "."
    ),
    f"Network: {'-'.join(map(str, cfg['widths']))} {cfg['activation']}, trained without "
    f"labels on each data set's train split (batch {cfg['batch_size']}); readout with "
    f"labelled train examples, scored on a class-balanced subset of the test split "
    f"(at most {cfg['query_size']}). Seeds {results['seeds']}: each seed fixes one "
    "network initialisation shared by every method, the labelled examples and the query, "
    "so differences are paired. Mean ± standard error over seeds; 'wins'/'loses' means "
    "the paired difference exceeds 2 standard errors.",
    f"Environment: jax {results['environment']['jax']} on {results['environment']['backend']}; "
    f"{results['seconds']:.0f} s.",
    "",
  ]
  caps = cfg["step_caps"]
  for head in heads:
    lines += [
      f"## Headline: {shots} labels per class, {head} head",
      "",
      f"The rule, Oja and the VAE after {step} unsupervised inner steps"
      + (
        f" ({', '.join(f'{k}: at most {v}' for k, v in caps.items())}, config.step_caps)"
        if caps
        else ""
      )
      + f"; supervised after {cfg['supervised']['steps']} Adam steps on the labelled "
      "examples.",
      "",
      *headline(results, head),
      "",
    ]
  lines += [
    f"## The rule against each baseline (paired, {shots} labels per class, "
    f"{heads[0]} head, same steps as above)",
    "",
    *differences(results, heads[0]),
    "",
  ]
  lines += [f"## Labels per class ({heads[0]} head, same steps as above)", ""]
  for ds in _datasets(results):
    lines += [f"**{ds}**", "", *shots_table(results, ds, heads[0]), ""]
  lines += [f"## Accuracy against inner steps ({shots} labels per class, {heads[0]} head)", ""]
  for ds in _datasets(results):
    lines += [f"**{ds}**", "", *curve_table(results, ds, heads[0]), ""]
  if results["sweep_records"]:
    sw = cfg["sweep"]
    lines += [
      f"## Generalisation sweeps ({sw['dataset']}, {sw['steps']} inner steps, "
      f"{sw['shots']} labels per class, {sw['head']} head, {sw['num_seeds']} seeds)",
      "",
    ]
    for kind in SWEEP_KINDS:
      lines += [*sweep_table(results, kind), ""]
  if any(e["vae_elbo"] for e in results["extras"].values()):
    lines += [
      "## VAE: ELBO per example (nats) on held-aside training data, mean over seeds",
      "",
      *elbo_table(results),
      "",
    ]
  if any(e["supervised_train_accuracy"] for e in results["extras"].values()):
    lines += [
      f"## Supervised baseline: accuracy on its own labelled examples "
      f"({cfg['supervised']['steps']} Adam steps)",
      "",
      *supervised_table(results),
      "",
    ]
  return "\n".join(lines)
