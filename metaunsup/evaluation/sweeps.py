"""The generalisation sweeps (paper Fig. 5): the learned rule against random init on one
data set, over network widths, depths and activations, each point stored as soon as it is
done."""

from __future__ import annotations

import math
import time

import jax
import ml_collections

from metaunsup import data, inner
from metaunsup.rule_files import Rule
from metaunsup.evaluation import protocol
from metaunsup.evaluation import readout as readout_lib
from metaunsup.evaluation import store as store_lib
from metaunsup.evaluation.data_specs import DataSpec

SWEEP_KINDS = ("widths", "depths", "activations")


def sweep_architectures(config) -> list[tuple[str, object, tuple, str]]:
  """Every point of the sweeps, in config order.

  Args:
    config: the evaluation config (reads config.sweep).

  Returns:
    (kind, value, widths, activation) per point: kind is one of SWEEP_KINDS, value the
    swept width, depth or activation, widths the network's layer widths (the last one
    config.sweep.feature_width) and activation its activation.
  """
  sw = config.sweep
  out = [
    ("widths", w, (w,) * sw.base_depth + (sw.feature_width,), sw.base_activation) for w in sw.widths
  ]
  out += [
    ("depths", d, (sw.base_width,) * d + (sw.feature_width,), sw.base_activation) for d in sw.depths
  ]
  out += [
    ("activations", a, (sw.base_width,) * sw.base_depth + (sw.feature_width,), a)
    for a in sw.activations
  ]
  return out


def sweep_point(
  learned: Rule, ds: data.Dataset, config, kind: str, value, widths, act: str, seeds
) -> dict:
  """The rule (config.sweep.steps inner steps) against random init at one architecture.

  Args:
    learned: the learned rule.
    ds: the sweep's data set.
    config: the evaluation config (the readout uses config.sweep.shots and .head).
    kind, value, widths, act: one point of `sweep_architectures`.
    seeds: one network init and readout per seed.

  Returns:
    {'records': accuracy records (with the point's sweep, value, widths and activation),
    'seconds': wall-clock seconds of the point}.
  """
  sw = config.sweep
  task_data = inner.unlabeled_data(ds.train_x)
  sweep_cfg = ml_collections.ConfigDict(dict(config.to_dict(), shots=(sw.shots,), heads=(sw.head,)))
  t0 = time.time()
  cfg = protocol.network_inner_config(learned.config, widths, act, config.batch_size)
  records = []
  for seed in seeds:
    readout = readout_lib.make_readout(ds, sweep_cfg, seed)
    state = inner.init_task(jax.random.split(jax.random.PRNGKey(seed), 3)[0], ds.input_dim, cfg)
    ((_, trained),) = protocol.unroll_checkpoints(learned.theta, cfg, state, task_data, (sw.steps,))
    for method, params, step in (("random_init", state.params, 0), ("rule", trained, sw.steps)):
      for (s, h), a in readout.score_network(params, act).items():
        records.append(
          {
            "sweep": kind,
            "value": value,
            "widths": list(widths),
            "activation": act,
            "dataset": sw.dataset,
            "method": method,
            "step": step,
            "seed": seed,
            "shots": s,
            "head": h,
            "accuracy": float(a),
          }
        )
  return {"records": records, "seconds": round(time.time() - t0, 2)}


def run_sweeps(
  learned: Rule, config, seeds, store: store_lib.PartialResults, log=print, reverse=False
) -> tuple[list[dict], float]:
  """Every point of the sweeps, each stored as soon as it is done.

  Args:
    learned: the learned rule.
    config: the evaluation config (config.sweep; config.seed seeds a permuted data set).
    seeds: the seeds of every point.
    store: where finished points are kept and read back from.
    log: called with one line per finished point.
    reverse: compute the last point first (a second process sharing the work).

  Returns:
    (records, seconds): the records of every point in config order, and the seconds they
    took (including points computed by earlier runs).

  Raises:
    data.DataNotFoundError: if the sweep's data set is not prepared.
    file_faults.WriteFailedError: if a finished point cannot be written.
  """
  ds = DataSpec.parse(config.sweep.dataset).load(config.seed)
  points = sweep_architectures(config)
  done = {}
  for kind, value, widths, act in store_lib.in_order(points, reverse):
    done[kind, value], _ = store.get_or_compute(
      f"sweep-{kind}={value}",
      lambda: (sweep_point(learned, ds, config, kind, value, widths, act, seeds), {}),
      log,
    )
    log(f"  sweep {kind}={value}: {done[kind, value]['seconds']:.0f} s")
  records = [r for kind, value, *_ in points for r in done[kind, value]["records"]]
  # fsum: a total that does not depend on the order of the terms (pipeline.run's note).
  return records, math.fsum(done[kind, value]["seconds"] for kind, value, *_ in points)
