"""The whole evaluation of a learned rule against baselines on held-out data: every data set
(`protocol.py`), then the generalisation sweeps (`sweeps.py`), each piece kept in
OUT/partial/ as soon as it is done (`store.py`), so the same command resumes an interrupted
run and a second process with `reverse` on the same OUT shares the work. Writes
OUT/results.json, OUT/results.md (`report.py`) and PNG figures (`figures.py`).

  from metaunsup.configs import eval_quick
  from metaunsup.evaluation import pipeline
  pipeline.run("pretrained", eval_quick.get_config(), "runs/eval_quick")
"""

from __future__ import annotations

import functools
import io
import json
import math
import pathlib
import platform
import time
from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from metaunsup import checkpointing, rule_files
from metaunsup.rule_files import Rule
from metaunsup.evaluation import config_checks, protocol, sweeps
from metaunsup.evaluation import store as store_lib
from metaunsup.evaluation.config_checks import check_config, seeds as config_seeds
from metaunsup.evaluation.data_specs import DataSpec, image_side
from metaunsup.evaluation.stats import summarize_records


def evaluate_all(
  learned: Rule, config, seeds, store: store_lib.PartialResults, log=print, reverse=False
):
  """Every data set, then the sweeps, each piece stored as soon as it is done.

  Args:
    learned: the learned rule.
    config: the evaluation config (checked: `check_config`).
    seeds: the seeds of every data set (the sweeps take the first config.sweep.num_seeds).
    store: where finished pieces are kept and read back from.
    log: called with progress lines.
    reverse: compute the pieces last first; the results are assembled in config order
      either way.

  Returns:
    (records, extras, first_layers, sweep_records, sweep_seconds): the accuracy records;
    extras per data set spec (`protocol.evaluate_dataset`); the first-layer weights of the
    first non-permuted image data set ({'dataset', 'side', method: [D, width]}, empty if
    there is none); the sweep records; the sweeps' seconds.

  Raises:
    ValueError, data.DataNotFoundError, file_faults.WriteFailedError: as the pieces do.
  """

  def dataset(spec):
    data_spec = DataSpec.parse(spec)
    ds = data_spec.load(config.seed)
    log(
      f"{spec}: {ds.input_dim} inputs, {ds.num_classes} classes, "
      f"{len(ds.train_x)} unlabeled training examples"
    )
    side = image_side(ds)
    return (
      *protocol.evaluate_dataset(learned, spec, ds, config, seeds, store, log, reverse),
      side if side and not data_spec.permuted else None,
    )

  parts: list[Callable[[], Any]] = [functools.partial(dataset, spec) for spec in config.datasets]
  if config.sweep.enabled:
    parts.append(
      lambda: sweeps.run_sweeps(
        learned, config, seeds[: config.sweep.num_seeds], store, log, reverse
      )
    )
  done = {}
  for i in store_lib.in_order(range(len(parts)), reverse):
    done[i] = parts[i]()
  records: list[dict] = []
  extras: dict[str, Any] = {}
  first_layers: dict[str, Any] = {}
  for i, spec in enumerate(config.datasets):
    recs, ext, side = done[i]
    records += recs
    if side and not first_layers:
      first_layers = {"dataset": spec, "side": side, **ext.pop("first_layer")}
    ext.pop("first_layer", None)
    extras[spec] = ext
  sweep_records, sweep_seconds = done.get(len(config.datasets), ([], 0.0))
  return records, extras, first_layers, sweep_records, sweep_seconds


def total_seconds(times) -> float:
  """The total of per-piece times, to 0.1 s, whatever their order.

  The times are rounded to 0.01 s, so their total is often a whole x.x5, and a plain sum in
  another order (a rerun reads the pieces back in another order) rounds it the other way
  (57.15 or 57.150000000000006); `math.fsum` is correctly rounded, so order-free.

  Args:
    times: seconds, an iterable of floats.

  Returns:
    The total in seconds, rounded to 0.1.
  """
  return round(math.fsum(times), 1)


def run(rule_path, config: ml_collections.ConfigDict, out, log=print, reverse=False) -> dict:
  """The whole evaluation, written to OUT.

  With `reverse`, the pieces are computed last first and the same report is assembled: a
  second process started so on the same OUT shares the work with the first (each reads
  what the other has stored; the two can overlap on at most the piece where they meet).

  Args:
    rule_path: a rule file, a meta-training workdir, or 'pretrained' (`rule_files.read_rule`).
    config: the evaluation config (`metaunsup.configs.eval_full`); fields it lacks
      take their default values (`config_checks.complete`), and results.json records
      the completed config.
    out: the output folder (created; pieces of an earlier run of the same config and rule
      in it are reused).
    log: called with progress lines.
    reverse: compute the pieces last first.

  Returns:
    The results dict also written to OUT/results.json: 'rule', 'config', 'seeds',
    'environment', 'seconds' (compute behind the results, including earlier runs'),
    'summary' and 'sweep_summary' (`stats.summarize_records`), 'records',
    'sweep_records', 'extras'. OUT also gets results.md, first_layer.npz (if an image
    data set was evaluated) and PNG figures.

  Raises:
    ValueError: for a bad config, a bad rule file or an --out that is a file.
    FileNotFoundError: if there is no rule at rule_path.
    data.DataNotFoundError: if a data set is not prepared (`make data`).
    file_faults.WriteFailedError: if OUT cannot be written.
  """
  from metaunsup.evaluation import figures, report

  config = config_checks.complete(config)
  check_config(config)
  learned = rule_files.read_rule(rule_path)
  out = pathlib.Path(out)
  if out.exists() and not out.is_dir():
    raise ValueError(f"--out {out} is a file; pass a folder (new or of this evaluation)")
  out.mkdir(parents=True, exist_ok=True)
  seeds = config_seeds(config)
  store = store_lib.PartialResults.open(out, config.to_json(), learned)
  t0 = time.time()
  records, extras, first_layers, sweep_records, sweep_seconds = evaluate_all(
    learned, config, seeds, store, log, reverse
  )
  # The compute behind the results, including pieces done by earlier, interrupted runs.
  seconds = total_seconds(
    [sweep_seconds]
    + [
      t
      for ext in extras.values()
      for per_seed in ext["seconds"].values()
      for t in per_seed.values()
    ]
  )
  results = {
    "rule": {
      "path": str(rule_path),
      "meta": learned.meta,
      "kind": learned.config.kind,
      "config": learned.config.to_dict(),
    },
    "config": json.loads(config.to_json()),
    "seeds": seeds,
    "environment": {
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "devices": len(jax.devices()),
      "python": platform.python_version(),
    },
    "seconds": seconds,
    "summary": summarize_records(records, ("dataset", "method", "step", "shots", "head")),
    "sweep_summary": summarize_records(
      sweep_records, ("sweep", "value", "method", "shots", "head")
    ),
    "records": records,
    "sweep_records": sweep_records,
    "extras": extras,
  }
  checkpointing.atomic_write_json(out / "results.json", results)
  checkpointing.atomic_write_bytes(out / "results.md", report.markdown(results).encode())
  if first_layers:
    buf = io.BytesIO()
    np.savez(buf, **first_layers)
    checkpointing.atomic_write_bytes(out / "first_layer.npz", buf.getvalue())
  figures.write_all(results, first_layers, out)
  log(
    f"wrote {out}/results.json, results.md and figures ({seconds:.0f} s of compute, "
    f"{time.time() - t0:.0f} s in this run)"
  )
  return results
