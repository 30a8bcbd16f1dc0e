"""The paper's evaluation protocol for one data set (Metz et al., ICLR 2019, Sec. 5).

For every seed, one randomly initialised network (the same MLP for every method) is
trained without labels by the learned rule, Oja's subspace rule and a VAE, with features
read at log-spaced inner steps; supervised backprop trains it on the labelled examples;
PCA and the raw inputs are reference points. Each representation is read out with `shots`
labelled training examples per class (ridge head and logistic probe, `readout.py`) and
scored on a class-balanced subset of the test split.
"""
from __future__ import annotations

import functools
import time

import jax
import numpy as np

from metaunsup import base_model, data, inner
from metaunsup.rule_files import Rule
from metaunsup.baselines import linear, oja, supervised, vae
from metaunsup.evaluation import readout as readout_lib
from metaunsup.evaluation import store as store_lib

METHODS = ("rule", "random_init", "vae", "supervised", "oja", "pca", "raw")
CURVE_METHODS = ("rule", "oja", "vae")       # features at every checkpoint
HEADS = ("ridge", "logistic")


def network_inner_config(rule_config, widths, activation: str,
                         batch_size: int) -> inner.InnerConfig:
  """The inner problem a local rule (learned or Oja's) trains a network of the protocol in.

  Args:
    rule_config: the rule's config (`rule.RuleConfig` or `oja.OjaConfig`).
    widths: the network's layer widths; the last is the representation.
    activation: the network's activation name.
    batch_size: unlabeled examples per inner step.

  Returns:
    An `inner.InnerConfig` (hashable: one compilation per distinct value).
  """
  return inner.InnerConfig(rule=rule_config, widths=tuple(int(w) for w in widths),
                           activation=activation, batch_size=int(batch_size))


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
  return tuple(sorted(c for c in set(int(c) for c in config.checkpoints)
                      if cap is None or c <= cap))


def unroll_checkpoints(theta, cfg: inner.InnerConfig, state: inner.TaskState,
                       task_data: inner.TaskData, checkpoints):
  """Runs a local rule and yields the network at every checkpoint. Steps advance in scans
  of 1000, 100, 10 and 1, so a log-spaced curve compiles at most four programs per shape.

  Args:
    theta: the rule's parameters ({} for Oja's rule).
    cfg: the inner problem (`network_inner_config`).
    state: the initial task state (`inner.init_task`).
    task_data: the unlabeled data (`inner.unlabeled_data`).
    checkpoints: sorted inner-step counts.

  Yields:
    (step, `base_model.BaseParams`) at every checkpoint; step 0 is the initial network.
  """
  done = 0
  for target in checkpoints:
    while done < target:
      k = next(c for c in (1000, 100, 10, 1) if c <= target - done)
      state = inner.jitted_unroll(theta, cfg, state, task_data, k)
      done += k
    yield target, state.params


def _records(dataset: str, method: str, step: int, seed: int, scores: dict) -> list[dict]:
  return [{"dataset": dataset, "method": method, "step": int(step), "seed": int(seed),
           "shots": int(s), "head": h, "accuracy": float(a)} for (s, h), a in scores.items()]


def evaluate_seed(learned: Rule, spec: str, ds: data.Dataset, config, seed: int,
                  pca, keep_first_layer: bool) -> tuple[dict, dict]:
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
    step, seed, shots, head, accuracy), 'vae_elbo' (nats per example at each checkpoint),
    'supervised_train_accuracy' and 'seconds' per method. first_layer maps a method to its
    first-layer weights [D, width] in the data's input order, after the last checkpoint
    (empty unless keep_first_layer).

  Raises:
    ValueError: if a class has fewer training examples than max(config.shots).
  """
  methods = tuple(config.methods)
  checkpoints = dataset_checkpoints(config, spec)
  widths, act = tuple(config.widths), config.activation
  cfg_rule = network_inner_config(learned.config, widths, act, config.batch_size)
  cfg_oja = network_inner_config(oja.OjaConfig(**config.oja.to_dict()), widths, act,
                                 config.batch_size)
  task_data = inner.unlabeled_data(ds.train_x)
  readout = readout_lib.make_readout(ds, config, seed)
  k_init, k_vae, k_sup = jax.random.split(jax.random.PRNGKey(seed), 3)
  state = inner.init_task(k_init, ds.input_dim, cfg_rule)  # one init shared by all methods
  result = {"records": [], "vae_elbo": [], "supervised_train_accuracy": [], "seconds": {}}
  first_layer = {}

  def add(method, step, scores):
    result["records"].extend(_records(spec, method, step, seed, scores))

  def random_init():
    add("random_init", 0, readout.score_network(state.params, act))
    if keep_first_layer:
      first_layer["random_init"] = _first_layer(state.params)

  def local_rule(method, theta, cfg):
    for step, params in unroll_checkpoints(theta, cfg, state, task_data, checkpoints):
      add(method, step, readout.score_network(params, act))
      if keep_first_layer and step == checkpoints[-1]:
        first_layer[method] = _first_layer(params)

  def train_vae():
    for step, params, elbo in vae.train_vae(k_vae, state.params, ds.train_x, activation=act,
                                        cfg=vae.VAEConfig(**config.vae.to_dict()),
                                        checkpoints=checkpoints):
      add("vae", step, readout.score_network(params, act))
      result["vae_elbo"].append({"seed": seed, "step": step, "elbo": float(elbo)})
      if keep_first_layer and step == checkpoints[-1]:
        first_layer["vae"] = _first_layer(params)

  def train_supervised():
    for s, k in zip(readout.shots, jax.random.split(k_sup, len(readout.shots))):
      idx = readout.support_idx(s)
      params, train_acc = supervised.train_classifier(
          k, state.params, ds.train_x[idx], ds.train_y[idx], activation=act,
          num_classes=ds.num_classes, **config.supervised.to_dict())
      add("supervised", config.supervised.steps, readout.score_network(params, act, s))
      result["supervised_train_accuracy"].append(
          {"seed": seed, "shots": int(s), "accuracy": float(train_acc)})

  def reference(method, transform):
    add(method, 0, readout.score(transform(ds.train_x[readout.support.reshape(-1)]),
                                 transform(ds.test_x[readout.query])))

  run_method = {
      "random_init": random_init,
      "rule": lambda: local_rule("rule", learned.theta, cfg_rule),
      "oja": lambda: local_rule("oja", {}, cfg_oja),
      "vae": train_vae, "supervised": train_supervised,
      "pca": lambda: reference("pca", pca().transform),
      "raw": lambda: reference("raw", lambda x: x)}
  for method in methods:
    t0 = time.time()
    run_method[method]()
    result["seconds"][method] = round(time.time() - t0, 2)
  return result, first_layer


def evaluate_dataset(learned: Rule, spec: str, ds: data.Dataset, config, seeds,
                     store: store_lib.PartialResults, log=print,
                     reverse=False) -> tuple[list[dict], dict]:
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
    the VAE's ELBO curve 'vae_elbo', 'supervised_train_accuracy', 'seconds' per seed and
    method, and the first seed's 'first_layer' weights.

  Raises:
    ValueError: as `evaluate_seed`.
    file_faults.WriteFailedError: if a finished seed cannot be written.
  """
  pca = functools.cache(lambda: linear.fit_pca(ds.train_x, config.widths[-1]))
  done = {}
  for seed in store_lib.in_order(seeds, reverse):
    done[seed] = store.get_or_compute(
        f"{spec}-seed{seed}",
        lambda: evaluate_seed(learned, spec, ds, config, seed, pca, seed == seeds[0]), log)
    log(f"  {spec} seed {seed}: " +
        ", ".join(f"{m} {t:.0f} s" for m, t in done[seed][0]["seconds"].items()))
  records, extras = [], {"vae_elbo": [], "supervised_train_accuracy": [], "first_layer": {},
                         "seconds": {}}
  for seed in seeds:
    result, first_layer = done[seed]
    records += result["records"]
    extras["vae_elbo"] += result["vae_elbo"]
    extras["supervised_train_accuracy"] += result["supervised_train_accuracy"]
    extras["seconds"][str(seed)] = result["seconds"]
    if seed == seeds[0]:
      extras["first_layer"] = first_layer
  return records, extras


def _first_layer(params: base_model.BaseParams) -> np.ndarray:
  """First-layer weights in the data's own input order (the network permutes its input:
  row j of W[0] reads input perm[j])."""
  w = np.asarray(params.W[0])
  out = np.empty_like(w)
  out[np.asarray(params.perm)] = w
  return out
