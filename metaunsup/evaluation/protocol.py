"""The paper's evaluation protocol for one data set (Metz et al., ICLR 2019, Sec. 5).

For every seed, one randomly initialised network (the same MLP for every method) is
trained without labels by the learned rule, Oja's subspace rule and a VAE, with features
read at log-spaced inner steps; supervised backprop trains it on the labelled examples;
PCA and the raw inputs are reference points. Each representation is read out with `shots`
labelled training examples per class (ridge head and logistic probe, `readout.py`) and
scored on a class-balanced subset of the test split. The methods are looked up by name in
`methods.py`'s registry ("local:KIND" for any registered local rule).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import jax

from metaunsup import data, inner
from metaunsup.rule_files import Rule
from metaunsup.baselines import linear
from metaunsup.evaluation import methods as methods_lib
from metaunsup.evaluation import readout as readout_lib
from metaunsup.evaluation import store as store_lib

# Where the local rules' unroll lives now; these names stay for sweeps.py and users.
from metaunsup.evaluation.methods import network_inner_config, unroll_checkpoints  # noqa: F401

HEADS = ("ridge", "logistic")


def dataset_checkpoints(config, spec: str) -> tuple:
  """The inner-step checkpoints of one data set: config.checkpoints up to its entry in
  config.step_caps (long unrolls on large inputs may not be affordable).

  Args:
    config: the evaluation config.
    spec: the data set's spec, an entry of config.datasets.

  Returns:
    Sorted, distinct inner-step counts.
  """
  cap = config.step_caps.get(spec, None)
  return tuple(
    sorted(c for c in set(int(c) for c in config.checkpoints) if cap is None or c <= cap)
  )


def evaluate_seed(
  learned: Rule, spec: str, ds: data.Dataset, config, seed: int, pca, keep_first_layer: bool
) -> tuple[dict, dict]:
  """Every method of config.methods on one data set and seed, from one shared init.

  Args:
    learned: the learned rule.
    spec: the data set's spec (names its records).
    ds: the loaded data set.
    config: the evaluation config.
    seed: seeds the network init, the VAE, supervised training and the readout.
    pca: a callable returning the data set's `linear.PCA` (fitted once, shared by seeds).
    keep_first_layer: whether to return first-layer weights.

  Returns:
    (result, first_layer). result holds 'records' (accuracy records: dataset, method,
    step, seed, shots, head, accuracy), every registered method's extras lists
    (`methods.extras_fields`: 'vae_elbo', nats per example at each checkpoint, and
    'supervised_train_accuracy'), and 'seconds' per method. first_layer maps a method to
    its first-layer weights [D, width] in the data's input order, after the last
    checkpoint (empty unless keep_first_layer).

  Raises:
    ValueError: if a class has fewer training examples than max(config.shots), or a
      method is unknown (`methods.get`).
  """
  checkpoints = dataset_checkpoints(config, spec)
  cfg_rule = network_inner_config(
    learned.config, config.widths, config.activation, config.batch_size
  )
  readout = readout_lib.make_readout(ds, config, seed)
  k_init, k_vae, k_sup = jax.random.split(jax.random.PRNGKey(seed), 3)
  state = inner.init_task(k_init, ds.input_dim, cfg_rule)  # one init shared by all methods
  result: dict[str, Any] = {
    "records": [],
    **{f: [] for f in methods_lib.extras_fields()},
    "seconds": {},
  }
  first_layer: dict[str, Any] = {}
  ctx = methods_lib.SeedContext(
    method="",
    spec=spec,
    ds=ds,
    config=config,
    seed=seed,
    learned=learned,
    state=state,
    task_data=inner.unlabeled_data(ds.train_x),
    readout=readout,
    pca=pca,
    checkpoints=checkpoints,
    keys={"vae": k_vae, "supervised": k_sup},
    keep_first_layer=keep_first_layer,
    result=result,
    first_layer=first_layer,
  )
  for method in config.methods:
    t0 = time.time()
    methods_lib.get(method).run(dataclasses.replace(ctx, method=method))
    result["seconds"][method] = round(time.time() - t0, 2)
  return result, first_layer


def evaluate_dataset(
  learned: Rule,
  spec: str,
  ds: data.Dataset,
  config,
  seeds,
  store: store_lib.PartialResults,
  log=print,
  reverse=False,
) -> tuple[list[dict], dict]:
  """Every method on one data set over all seeds, each seed stored as soon as it is done.

  Args:
    learned: the learned rule.
    spec: the data set's spec.
    ds: the loaded data set.
    config: the evaluation config.
    seeds: the seeds; the first one's first-layer weights are kept.
    store: where finished seeds are kept and read back from.
    log: called with one line per finished seed.
    reverse: compute the last seed first (a second process sharing the work).

  Returns:
    (records, extras): the accuracy records of every seed, in seed order, and extras with
    every registered method's extras lists over the seeds (the VAE's ELBO curve
    'vae_elbo', 'supervised_train_accuracy'), 'seconds' per seed and method, and the
    first seed's 'first_layer' weights.

  Raises:
    ValueError: as `evaluate_seed`.
    file_faults.WriteFailedError: if a finished seed cannot be written.
  """
  pca = functools.cache(lambda: linear.fit_pca(ds.train_x, config.widths[-1]))
  done = {}
  for seed in store_lib.in_order(seeds, reverse):
    done[seed] = store.get_or_compute(
      f"{spec}-seed{seed}",
      lambda: evaluate_seed(learned, spec, ds, config, seed, pca, seed == seeds[0]),
      log,
    )
    log(
      f"  {spec} seed {seed}: "
      + ", ".join(f"{m} {t:.0f} s" for m, t in done[seed][0]["seconds"].items())
    )
  fields = methods_lib.extras_fields()
  records: list[dict] = []
  extras: dict[str, Any] = {**{f: [] for f in fields}, "first_layer": {}, "seconds": {}}
  for seed in seeds:
    result, first_layer = done[seed]
    records += result["records"]
    for f in fields:
      # A piece stored before a method of this process was registered has no list of its
      # extras; that method did not run in it.
      extras[f] += result.get(f, [])
    extras["seconds"][str(seed)] = result["seconds"]
    if seed == seeds[0]:
      extras["first_layer"] = first_layer
  return records, extras
