"""results.md of an evaluation: the headline table (every method at one inner step, one
number of labels per class), paired differences of the rule against each baseline, and the
curves, shots, sweep, ELBO and supervised-fit tables behind it. Pure text from results.json.
Also the pieces of paired tables across evaluations (`mean_text`, `paired_text`,
`read_results`, `merge`, `cell`; the tool: `python -m experiments.shared.paired_table`) and
the tables of a meta-training run's summary.json (`run_summary`)."""

from __future__ import annotations

import json
import pathlib

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


# Paired tables across evaluations (`python -m experiments.shared.paired_table`): several
# results.json of the same protocol, or an unfinished run's stored pieces, read, checked to be
# paired by seed, merged, and printed as mean ± SE cells and paired differences.


def mean_text(values) -> str:
  """One cell: 'mean ± SE' over seeds, '—' if empty, 'diverged' if any value is not finite.

  Args:
    values: accuracies, one per seed (an iterable, e.g. `per_seed(...).values()`).

  Returns:
    The cell's text.
  """
  return _cell(list(values))


def paired_text(a: dict, b: dict, bold: bool = True) -> str:
  """A paired difference with its verdict, e.g. '+0.012 ± 0.004 **wins**'.

  Args:
    a: {seed: accuracy} of one method.
    b: {seed: accuracy} of the method it is compared with.
    bold: keep the verdict's bold (beyond 2 SE); False prints it plain.

  Returns:
    The cell's text.
  """
  d, s = paired(a, b)
  word = verdict(d, s)
  return f"{d:+.3f} ± {s:.3f} {word if bold else word.strip('*')}"


def read_results(spec: str) -> dict:
  """An evaluation's results: "PATH" or "PATH@NAME", its method "rule" renamed NAME.

  Args:
    spec: PATH is a results.json or an evaluation's --out folder: its results.json, or, for
      an unfinished run, the records of its stored pieces (`partial_records`; no config).

  Returns:
    The results dict; renamed records carry "renamed": True (`cell` reads them as curves).

  Raises:
    SystemExit: nothing to read at PATH (one line naming it).
  """
  path, _, new_name = spec.partition("@")
  p = pathlib.Path(path)
  if p.is_dir() and not (p / "results.json").is_file():
    if not (p / "partial").is_dir():
      raise SystemExit(
        f"{p / 'results.json'} not found: run the evaluation with out={p} first "
        "(`python -m metaunsup.evaluation`, `make evaluate` or `metaunsup.evaluate`)"
      )
    results = {"records": partial_records(p)}
  else:
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
      raise SystemExit(
        f"{p} not found: run the evaluation with out={p.parent} first "
        "(`python -m metaunsup.evaluation`, `make evaluate` or `metaunsup.evaluate`)"
      )
    results = json.loads(p.read_text())
  if new_name:
    for rec in results["records"]:
      if rec["method"] == "rule":
        rec["method"], rec["renamed"] = new_name, True
  return results


def partial_records(out: pathlib.Path) -> list[dict]:
  """The records of an unfinished evaluation's stored pieces (OUT/partial/<fingerprint>/).

  Args:
    out: the evaluation's --out folder; its partial/ must hold one evaluation's pieces.

  Returns:
    The protocol network's records (the sweep networks' are left out: read with the rest,
    they would replace the protocol network's cells on the same data set and seeds).

  Raises:
    SystemExit: partial/ is missing or holds pieces of several evaluations.
  """
  folders = sorted((out / "partial").iterdir()) if (out / "partial").is_dir() else []
  if len(folders) != 1:
    raise SystemExit(f"{out / 'partial'} should hold one evaluation's pieces, found {len(folders)}")
  records = []
  for piece in sorted(folders[0].glob("*.json")):
    records += [r for r in json.loads(piece.read_text()).get("records", []) if "sweep" not in r]
  return records


def merge(results: list[dict]) -> dict:
  """One results dict with the records of all, after checking that they are paired (the same
  seeds give the same network init, labelled examples and query in each).

  Args:
    results: evaluations' results (`read_results`), each with its config.

  Returns:
    {"config": the first's config with every checkpoint of all, "records": each (data set,
    method, step, seed, shots, head) once, first come first kept, "seeds": the seeds,
    "seconds": {(data set, method): [wall seconds per seed]}}.

  Raises:
    ValueError: the seeds, the network settings or the shared random-init accuracies differ
      (ridge: exactly; the logistic probe, an iterative fit whose last bits follow the
      machine's summation order: within one query example).
  """
  seeds = {tuple(r["seeds"]) for r in results}
  if len(seeds) != 1:
    raise ValueError(f"the evaluations used different seeds {sorted(seeds)}; not paired")
  base = results[0]
  keys = ("widths", "activation", "batch_size", "query_size", "reference_batch", "seed")
  for r in results[1:]:
    differ = [k for k in keys if r["config"][k] != base["config"][k]]
    if differ:
      raise ValueError(f"the evaluations' configs differ in {differ}; not paired")
  init: dict = {}
  for r in results:
    for rec in r["records"]:
      if rec["method"] == "random_init":
        key = (rec["dataset"], rec["seed"], rec["shots"], rec["head"])
        tol = 0.0 if rec["head"] == "ridge" else 1.0 / base["config"]["query_size"] + 1e-9
        if key in init and abs(init[key] - rec["accuracy"]) > tol:
          raise ValueError(
            f"random init differs at {key}: {init[key]} vs {rec['accuracy']}; "
            "the evaluations are not paired"
          )
        init[key] = rec["accuracy"]
  seen: set[tuple] = set()
  records = []
  for r in results:
    for rec in r["records"]:
      record_key = (
        rec["dataset"],
        rec["method"],
        rec["step"],
        rec["seed"],
        rec["shots"],
        rec["head"],
      )
      if record_key not in seen:
        seen.add(record_key)
        records.append(rec)
  config = dict(
    base["config"], checkpoints=sorted({c for r in results for c in r["config"]["checkpoints"]})
  )
  seconds: dict = {}
  for r in results:
    for spec, extras in r.get("extras", {}).items():
      for per_method in extras.get("seconds", {}).values():
        for m, t in per_method.items():
          seconds.setdefault((spec, m), []).append(t)
  return {"config": config, "records": records, "seeds": list(base["seeds"]), "seconds": seconds}


def cell(
  results: dict, dataset: str, method: str, shots: int, head: str, step: int | None = None
) -> dict:
  """`per_seed`, also for a learned rule renamed on input (`read_results`): a curve method
  the registry does not know by its new name, read at `step`.

  Args:
    results: an evaluation's or a merged results dict.
    dataset, method, shots, head, step: as `per_seed`.

  Returns:
    {seed: accuracy}, empty if the cell was not evaluated.
  """
  if not any(r.get("renamed") and r["method"] == method for r in results["records"]):
    return per_seed(results, dataset, method, shots, head, step)
  return {
    r["seed"]: r["accuracy"]
    for r in results["records"]
    if (r["dataset"], r["method"], r["shots"], r["head"], r["step"])
    == (dataset, method, shots, head, step)
  }


def run_summary(workdir: pathlib.Path) -> str:
  """Markdown tables of a meta-training run's summary.json: its held-out check, the rule
  against random init per data set and head, paired over seeds, and the run's meta-loss,
  skipped meta-gradients and data-loading time.

  Args:
    workdir: the run's --workdir.

  Returns:
    The Markdown text.

  Raises:
    ValueError, FileNotFoundError: summary.json is missing or damaged (one line naming it).
  """
  from metaunsup.training.workdir import read_summary  # imports evaluation: no cycle at load

  s = read_summary(workdir)
  ev, fam = s["config"]["eval"], s["config"]["family"]
  lines = [
    f"Meta-trained (seed {s['seed']}, {s['meta_steps']} meta-steps) on the train splits of "
    f"{', '.join(fam['datasets'])}; held out: {', '.join(fam['held_out'])}.",
    f"Evaluation: network {'-'.join(map(str, ev['widths']))} {ev['activation']} trained "
    f"{ev['inner_steps']} inner steps on the unlabeled train split, readout on the test "
    f"split ({ev['image_size']}x{ev['image_size']} images), "
    f"{s['config']['heads']['shots']} labels per class, query {ev['query_size']}, "
    f"{len(s['eval_seeds'])} seeds {s['eval_seeds']}. Mean ± standard error over seeds.",
  ]
  for data_name, acc in s["eval"].items():
    lines += [
      "",
      f"**{data_name}**",
      "",
      "| head | learned rule | random init | paired difference (same seed, same labels) |",
      "| --- | --- | --- | --- |",
    ] + _summary_rows(acc)
  lines += [
    "",
    f"Meta-loss: first 10% of steps {s['meta_loss_first']:.3f}, "
    f"last 10% {s['meta_loss_last']:.3f}; skipped meta-gradients: "
    f"{s['skipped_meta_gradients']}. Data loading per meta-step: "
    f"{s['data_seconds_median']:.3f} s against {s['step_seconds_median']:.3f} s for "
    f"the step (median ratio {s['data_to_step_ratio']:.3f}).",
  ]
  return "\n".join(lines)


def _summary_rows(acc: dict) -> list[str]:
  lines = []
  for head, suffix in (("ridge", ""), ("logistic", "_logistic")):
    if f"fewshot_acc_rule{suffix}" not in acc:
      continue
    r, rs = acc[f"fewshot_acc_rule{suffix}"], acc[f"fewshot_acc_rule{suffix}_sem"]
    b, bs = acc[f"fewshot_acc_random_init{suffix}"], acc[f"fewshot_acc_random_init{suffix}_sem"]
    d, ds = mean_sem(
      [
        x - y
        for x, y in zip(
          acc[f"fewshot_acc_rule{suffix}_per_seed"],
          acc[f"fewshot_acc_random_init{suffix}_per_seed"],
        )
      ]
    )
    lines.append(
      f"| {head} | {r:.3f} ± {rs:.3f} | {b:.3f} ± {bs:.3f} | "
      f"{d:+.3f} ± {ds:.3f} ({d / ds:+.1f} SE) |"
    )
  return lines
