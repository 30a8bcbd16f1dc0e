"""Evaluation of a learned rule against baselines on held-out data (the paper's protocol).

For every data set and seed, one randomly initialised network (the same MLP for every
method) is trained without labels by the learned rule, Oja's subspace rule and a VAE, with
features read at log-spaced inner steps; supervised backprop trains it on the labelled
examples; PCA and the raw inputs are reference points. Each representation is read out with
`shots` labelled training examples per class (ridge head and logistic probe) and scored on a
random subset of the test split. Generalisation sweeps over widths, depths and activations
compare the rule with random init. Writes OUT/results.json, OUT/results.md and PNG figures.
Each data set and seed, and each sweep point, is kept in OUT/partial/ as soon as it is done,
so the same command resumes an interrupted run (eval_store.py), and a second process with
--reverse on the same OUT shares the work.

  python -m metaunsup.evaluate --rule=experiments/results/fmnist_relu/rule.msgpack \
      --config=experiments/configs/eval_quick.py --out=runs/eval_quick
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import pathlib
import platform
import time

import jax
import ml_collections
import numpy as np

from metaunsup import (api, base_model, checkpointing, data, eval_store, evaluation,
                       file_faults, heads, inner)
from metaunsup.baselines import linear, oja, supervised, vae

METHODS = ("rule", "random_init", "vae", "supervised", "oja", "pca", "raw")
CURVE_METHODS = ("rule", "oja", "vae")       # features at every checkpoint
NETWORK_METHODS = ("rule", "random_init", "vae", "supervised", "oja")
HEADS = ("ridge", "logistic")
SWEEP_KINDS = ("widths", "depths", "activations")


# --- data specs -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DataSpec:
  """'mnist@14' (image size), 'mnist@28+perm' (fixed random pixel permutation), 'reuters'."""
  name: str
  image_size: int = 14
  permuted: bool = False

  @classmethod
  def parse(cls, spec: str) -> "DataSpec":
    body, permuted = (spec[:-5], True) if spec.endswith("+perm") else (spec, False)
    name, _, size = body.partition("@")
    if not name or (size and not size.isdigit()):
      raise ValueError(f"data set spec {spec!r} is malformed; write NAME, NAME@SIZE or "
                       "NAME@SIZE+perm, e.g. 'mnist@28+perm'")
    return cls(name, int(size) if size else 14, permuted)

  def load(self, seed: int) -> data.Dataset:
    ds = data.load(self.name, self.image_size)
    if not self.permuted:
      return ds
    perm = np.random.default_rng(seed).permutation(ds.input_dim)
    return dataclasses.replace(ds, name=f"{ds.name}+perm", train_x=ds.train_x[:, perm],
                               test_x=ds.test_x[:, perm])


def image_side(ds: data.Dataset) -> int | None:
  side = int(round(np.sqrt(ds.input_dim)))
  return side if side * side == ds.input_dim else None


# --- representations ------------------------------------------------------------------

def unroll_checkpoints(theta, cfg: inner.InnerConfig, state: inner.TaskState,
                       task_data: inner.TaskData, checkpoints):
  """(step, params) at every checkpoint of one run. Steps advance in scans of 1000, 100,
  10 and 1, so a log-spaced curve compiles at most four programs per shape."""
  done = 0
  for target in checkpoints:
    while done < target:
      k = next(c for c in (1000, 100, 10, 1) if c <= target - done)
      state = inner.jitted_unroll(theta, cfg, state, task_data, k)
      done += k
    yield target, state.params


def nested_support(labels: np.ndarray, max_shots: int, num_classes: int, seed: int):
  """[num_classes, max_shots] indices of labelled examples; the first s columns are the
  s-shot support set, so the 1-shot set is inside the 5-shot set and so on."""
  rng = np.random.default_rng(seed)
  rows = []
  for c in range(num_classes):
    pool = np.flatnonzero(labels == c)
    if len(pool) < max_shots:
      raise ValueError(f"class {c} has {len(pool)} training examples, fewer than "
                       f"shots={max_shots}; lower config.shots")
    rows.append(rng.choice(pool, max_shots, replace=False))
  return np.stack(rows)


@dataclasses.dataclass
class Readout:
  """The labelled examples of one (data set, seed): nested support sets and a query set."""
  ds: data.Dataset
  support: np.ndarray      # [classes, max_shots] indices into the train split
  query: np.ndarray        # class-balanced indices into the test split
  ref: np.ndarray          # unlabeled train examples whose batch-norm statistics are used
  shots: tuple
  heads: tuple

  def support_idx(self, shots: int) -> np.ndarray:
    return self.support[:, :shots].reshape(-1)

  def score(self, u_support_all: np.ndarray, u_query: np.ndarray, only_shots=None) -> dict:
    """{(shots, head): accuracy} from features of the max-shot support set and the query."""
    out = {}
    per_class = u_support_all.reshape(self.support.shape + (-1,))
    for s in (self.shots if only_shots is None else (only_shots,)):
      u_s = per_class[:, :s].reshape(-1, per_class.shape[-1])
      y_s = self.ds.train_y[self.support_idx(s)]
      for h in self.heads:
        out[(s, h)] = heads.fewshot_accuracy(u_s, y_s, u_query, self.ds.test_y[self.query],
                                             head=h, num_classes=self.ds.num_classes)
    return out

  def score_network(self, params, activation: str, only_shots=None) -> dict:
    model = api.TrainedModel.from_reference(params, self.ds.train_x[self.ref], activation)
    u_s = model.features(self.ds.train_x[self.support.reshape(-1)])
    u_q = model.features(self.ds.test_x[self.query])
    if not (np.all(np.isfinite(u_s)) and np.all(np.isfinite(u_q))):
      return {(s, h): float("nan") for s in self.shots for h in self.heads}
    return self.score(u_s, u_q, only_shots)


def make_readout(ds: data.Dataset, config, seed: int) -> Readout:
  rng = np.random.default_rng(seed + 1)
  # A class-balanced query, so chance is 1/classes on every data set (Reuters is 93% one class).
  by_class = [np.flatnonzero(ds.test_y == c) for c in range(ds.num_classes)]
  per_class = min(config.query_size // ds.num_classes, *(len(i) for i in by_class))
  query = np.concatenate([rng.choice(i, per_class, replace=False) for i in by_class])
  ref = rng.choice(len(ds.train_x), min(config.reference_batch, len(ds.train_x)),
                   replace=False)
  return Readout(ds, nested_support(ds.train_y, max(config.shots), ds.num_classes, seed),
                 query, ref, tuple(config.shots), tuple(config.heads))


# --- the protocol ---------------------------------------------------------------------

def _records(dataset: str, method: str, step: int, seed: int, scores: dict) -> list[dict]:
  return [{"dataset": dataset, "method": method, "step": int(step), "seed": int(seed),
           "shots": int(s), "head": h, "accuracy": float(a)} for (s, h), a in scores.items()]


def inner_config(rule_config, widths, activation: str, batch_size: int) -> inner.InnerConfig:
  return inner.InnerConfig(rule=rule_config, widths=tuple(int(w) for w in widths),
                           activation=activation, batch_size=int(batch_size))


def dataset_checkpoints(config, spec: str) -> tuple:
  """The inner-step checkpoints of one data set: config.checkpoints up to its entry in
  config.step_caps (long unrolls on large inputs may not be affordable)."""
  cap = config.step_caps.get(spec, None)
  return tuple(sorted(c for c in set(int(c) for c in config.checkpoints)
                      if cap is None or c <= cap))


def evaluate_seed(learned: api.Rule, spec: str, ds: data.Dataset, config, seed: int,
                  pca, keep_first_layer: bool) -> tuple[dict, dict]:
  """Every method on one data set and seed: (result, first-layer weights by method). The
  result holds the accuracy records, the VAE's ELBO curve, supervised training accuracy and
  each method's seconds."""
  methods = tuple(config.methods)
  checkpoints = dataset_checkpoints(config, spec)
  widths, act = tuple(config.widths), config.activation
  cfg_rule = inner_config(learned.config, widths, act, config.batch_size)
  cfg_oja = inner_config(oja.OjaConfig(**config.oja.to_dict()), widths, act, config.batch_size)
  task_data = inner.unlabeled_data(ds.train_x)
  readout = make_readout(ds, config, seed)
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
    for step, params, elbo in vae.train(k_vae, state.params, ds.train_x, activation=act,
                                        cfg=vae.VAEConfig(**config.vae.to_dict()),
                                        checkpoints=checkpoints):
      add("vae", step, readout.score_network(params, act))
      result["vae_elbo"].append({"seed": seed, "step": step, "elbo": float(elbo)})
      if keep_first_layer and step == checkpoints[-1]:
        first_layer["vae"] = _first_layer(params)

  def train_supervised():
    for s, k in zip(readout.shots, jax.random.split(k_sup, len(readout.shots))):
      idx = readout.support_idx(s)
      params, train_acc = supervised.train(k, state.params, ds.train_x[idx], ds.train_y[idx],
                                           activation=act, num_classes=ds.num_classes,
                                           **config.supervised.to_dict())
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


def evaluate_dataset(learned: api.Rule, spec: str, ds: data.Dataset, config, seeds,
                     store: eval_store.PartialResults, log=print,
                     reverse=False) -> tuple[list[dict], dict]:
  """Every method on one data set over all seeds (computed last seed first if `reverse`),
  each seed stored as soon as it is done: (accuracy records, extras) where extras holds the
  VAE's ELBO curve, supervised training accuracy, seconds per seed and method, and the first
  seed's first-layer weights."""
  pca = functools.cache(lambda: linear.fit_pca(ds.train_x, config.widths[-1]))
  done = {}
  for seed in _in_order(seeds, reverse):
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


def sweep_architectures(config) -> list[tuple[str, object, tuple, str]]:
  """(kind, value, widths, activation) for every point of the generalisation sweeps."""
  sw = config.sweep
  out = [("widths", w, (w,) * sw.base_depth + (sw.feature_width,), sw.base_activation)
         for w in sw.widths]
  out += [("depths", d, (sw.base_width,) * d + (sw.feature_width,), sw.base_activation)
          for d in sw.depths]
  out += [("activations", a, (sw.base_width,) * sw.base_depth + (sw.feature_width,), a)
          for a in sw.activations]
  return out


def sweep_point(learned: api.Rule, ds: data.Dataset, config, kind: str, value, widths,
                act: str, seeds) -> dict:
  """The rule against random init at one architecture of the sweeps, over `seeds`."""
  sw = config.sweep
  task_data = inner.unlabeled_data(ds.train_x)
  sweep_cfg = ml_collections.ConfigDict(dict(config.to_dict(), shots=(sw.shots,),
                                             heads=(sw.head,)))
  t0 = time.time()
  cfg = inner_config(learned.config, widths, act, config.batch_size)
  records = []
  for seed in seeds:
    readout = make_readout(ds, sweep_cfg, seed)
    state = inner.init_task(jax.random.split(jax.random.PRNGKey(seed), 3)[0], ds.input_dim,
                            cfg)
    (_, trained), = unroll_checkpoints(learned.theta, cfg, state, task_data, (sw.steps,))
    for method, params, step in (("random_init", state.params, 0),
                                 ("rule", trained, sw.steps)):
      for (s, h), a in readout.score_network(params, act).items():
        records.append({"sweep": kind, "value": value, "widths": list(widths),
                        "activation": act, "dataset": sw.dataset, "method": method,
                        "step": step, "seed": seed, "shots": s, "head": h,
                        "accuracy": float(a)})
  return {"records": records, "seconds": round(time.time() - t0, 2)}


def run_sweeps(learned: api.Rule, config, seeds, store: eval_store.PartialResults,
               log=print, reverse=False) -> tuple[list[dict], float]:
  """The rule against random init on one data set for each width, depth and activation
  (computed last point first if `reverse`): (records, seconds), each point stored as soon as
  it is done."""
  ds = DataSpec.parse(config.sweep.dataset).load(config.seed)
  points = sweep_architectures(config)
  done = {}
  for kind, value, widths, act in _in_order(points, reverse):
    done[kind, value], _ = store.get_or_compute(
        f"sweep-{kind}={value}",
        lambda: (sweep_point(learned, ds, config, kind, value, widths, act, seeds), {}), log)
    log(f"  sweep {kind}={value}: {done[kind, value]['seconds']:.0f} s")
  records, seconds = [], 0.0
  for kind, value, *_ in points:
    records += done[kind, value]["records"]
    seconds += done[kind, value]["seconds"]
  return records, seconds


def summarize(records: list[dict], keys: tuple) -> list[dict]:
  """Mean and standard error over seeds of every group of `keys`."""
  groups: dict = {}
  for r in records:
    groups.setdefault(tuple(r[k] for k in keys), []).append(r["accuracy"])
  out = []
  for group, accs in sorted(groups.items(), key=lambda g: tuple(map(str, g[0]))):
    mean, sem = evaluation.mean_sem(accs)
    out.append(dict(zip(keys, group), mean=mean, sem=sem, n=len(accs)))
  return out


def check_config(config) -> None:
  """One-line errors for bad evaluation configs, before anything is loaded or compiled."""
  for field in ("datasets", "methods", "checkpoints", "shots", "heads", "widths"):
    if isinstance(config[field], str) or not config[field]:
      raise ValueError(f"config.{field} must be a non-empty list, got {config[field]!r}")
  unknown = set(config.methods) - set(METHODS)
  if unknown:
    raise ValueError(f"config.methods has {sorted(unknown)}; choose from {METHODS}")
  if set(config.heads) - set(HEADS):
    raise ValueError(f"config.heads must be a subset of {HEADS}, got {tuple(config.heads)}")
  for field in ("checkpoints", "shots", "widths"):
    low = 0 if field == "checkpoints" else 1
    if any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in config[field]):
      raise ValueError(f"config.{field} must hold integers >= {low}, got {tuple(config[field])}")
  for field, low in (("num_seeds", 1), ("batch_size", 2), ("query_size", 1),
                     ("reference_batch", 2), ("seed", 0)):
    if isinstance(config[field], bool) or not isinstance(config[field], int) \
        or config[field] < low:
      raise ValueError(f"config.{field} must be an integer >= {low}, got {config[field]!r}")
  base_model.get_activation(config.activation)
  for spec in config.datasets:
    DataSpec.parse(spec)
  for spec, cap in config.step_caps.items():
    if spec not in config.datasets or isinstance(cap, bool) or not isinstance(cap, int):
      raise ValueError(f"config.step_caps[{spec!r}] = {cap!r}: keys must be entries of "
                       "config.datasets and values integer step counts")
  if config.sweep.enabled:
    DataSpec.parse(config.sweep.dataset)
    for a in config.sweep.activations:
      base_model.get_activation(a)


def _in_order(items, reverse: bool):
  return items[::-1] if reverse else items


def evaluate_all(learned: api.Rule, config, seeds, store: eval_store.PartialResults,
                 log=print, reverse=False):
  """Every data set, then the sweeps, each piece stored as soon as it is done and computed
  last first if `reverse`; the results are assembled in config order either way. (records,
  extras per data set, first-layer weights, sweep records, sweep seconds)."""
  def dataset(spec):
    data_spec = DataSpec.parse(spec)
    ds = data_spec.load(config.seed)
    log(f"{spec}: {ds.input_dim} inputs, {ds.num_classes} classes, "
        f"{len(ds.train_x)} unlabeled training examples")
    side = image_side(ds)
    return (*evaluate_dataset(learned, spec, ds, config, seeds, store, log, reverse),
            side if side and not data_spec.permuted else None)
  parts = [functools.partial(dataset, spec) for spec in config.datasets]
  if config.sweep.enabled:
    parts.append(lambda: run_sweeps(learned, config, seeds[:config.sweep.num_seeds], store,
                                    log, reverse))
  done = {}
  for i in _in_order(range(len(parts)), reverse):
    done[i] = parts[i]()
  records, extras, first_layers = [], {}, {}
  for i, spec in enumerate(config.datasets):
    recs, ext, side = done[i]
    records += recs
    if side and not first_layers:
      first_layers = {"dataset": spec, "side": side, **ext.pop("first_layer")}
    ext.pop("first_layer", None)
    extras[spec] = ext
  sweep_records, sweep_seconds = done.get(len(config.datasets), ([], 0.0))
  return records, extras, first_layers, sweep_records, sweep_seconds


def run(rule_path, config: ml_collections.ConfigDict, out, log=print, reverse=False) -> dict:
  """The whole evaluation; returns the results dict also written to OUT/results.json.

  With `reverse`, the pieces are computed last first and the same report is assembled: a
  second process started so on the same OUT shares the work with the first (each reads
  what the other has stored; the two can overlap on at most the piece where they meet)."""
  from metaunsup import eval_figures, eval_report
  check_config(config)
  learned = api.load_rule(rule_path)
  out = pathlib.Path(out)
  if out.exists() and not out.is_dir():
    raise ValueError(f"--out {out} is a file; pass a folder (new or of this evaluation)")
  out.mkdir(parents=True, exist_ok=True)
  seeds = [int(config.seed) * 1000 + i for i in range(config.num_seeds)]
  store = eval_store.PartialResults.open(out, config.to_json(), learned)
  t0 = time.time()
  records, extras, first_layers, sweep_records, sweep_seconds = evaluate_all(
      learned, config, seeds, store, log, reverse)
  # The compute behind the results, including pieces done by earlier, interrupted runs.
  seconds = sweep_seconds + sum(t for ext in extras.values()
                                for per_seed in ext["seconds"].values()
                                for t in per_seed.values())
  results = {
      "rule": {"path": str(rule_path), "meta": learned.meta,
               "config": dataclasses.asdict(learned.config)},
      "config": json.loads(config.to_json()),
      "seeds": seeds,
      "environment": {"jax": jax.__version__, "backend": jax.default_backend(),
                      "devices": len(jax.devices()), "python": platform.python_version()},
      "seconds": round(seconds, 1),
      "summary": summarize(records, ("dataset", "method", "step", "shots", "head")),
      "sweep_summary": summarize(sweep_records, ("sweep", "value", "method", "shots", "head")),
      "records": records, "sweep_records": sweep_records, "extras": extras,
  }
  checkpointing.atomic_write_json(out / "results.json", results)
  checkpointing.atomic_write_bytes(out / "results.md", eval_report.markdown(results).encode())
  if first_layers:
    buf = io.BytesIO()
    np.savez(buf, **first_layers)
    checkpointing.atomic_write_bytes(out / "first_layer.npz", buf.getvalue())
  eval_figures.write_all(results, first_layers, out)
  log(f"wrote {out}/results.json, results.md and figures ({seconds:.0f} s of compute, "
      f"{time.time() - t0:.0f} s in this run)")
  return results


def main(argv):
  del argv
  import sys
  from absl import flags, logging
  logging.set_verbosity(logging.WARNING)
  try:
    run(flags.FLAGS.rule, flags.FLAGS.config, flags.FLAGS.out, reverse=flags.FLAGS.reverse)
  except (ValueError, FileNotFoundError, data.DataNotFoundError,
          file_faults.WriteFailedError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file("config", "experiments/configs/eval_quick.py",
                                  "Evaluation config (ml_collections).")
  flags.DEFINE_string("rule", "pretrained", "A rule file, a meta-training workdir, or "
                      "'pretrained' (the rule shipped in the package).")
  flags.DEFINE_string("out", "runs/eval", "Where results.json, results.md and figures go.")
  flags.DEFINE_bool("reverse", False, "Compute the pieces last first: a second process "
                    "started with it on the same --out shares the work with the first.")
  from metaunsup.flags import parse_flags
  app.run(main, flags_parser=parse_flags)
