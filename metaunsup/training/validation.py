"""The validation curve of a meta-training run: every `config.validation.every` meta-steps
the current rule trains the same validation tasks and their few-shot accuracy is logged
beside random init's (metrics.jsonl's val_* fields, TensorBoard, curves.png, summary.json).

The family's own query accuracy cannot show learning: each meta-step scores tasks of other
ages on fresh data. These tasks are fixed (data set, seed, classes, network init, batches,
support and query), start from step 0 every time and run the same inner-step counts, so the
curve moves only when theta does. Their labels come from the validation part of each family
data set's train split (`task_family.Pools.validation`), which meta-training never reads;
held-out data sets and splits are not touched. One task:

  unlabeled inner data: pool_per_class examples of each of its classes from the rest of
    the train split (what meta-training also trains on, unlabeled);
  network: eval's widths (or conv_layers), activation, image size and batch size, init
    from the task's seed
    (or each of `validation.networks`, "ACTIVATION:W1-...-WL" or a conv network
    "ACTIVATION:LAYER LAYER ...": the same tasks on networks of other depths, widths,
    activations and kinds, so that the curve shows a rule that breaks on a network
    meta-training is not scored on);
  readout: ridge (as the evaluation's, float64, lambda 0.1) on heads.shots support and
    validation.query_per_class query examples per class, both from the validation part.

  validator = Validator(config, family, rule)
  row.update(validator(theta))   # val_accuracy, val_accuracy_random_init, ...
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import zlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from metaunsup import base_model, heads, inner, local_rule, task_family
from metaunsup.conv import layers as conv_layers


@dataclasses.dataclass(frozen=True)
class ValidationTask:
  """One validation task: what it reads, by index into its data set's train split.

  Attributes:
    dataset: the data set's name.
    seed: the task's seed (0..tasks_per_dataset-1; with the name, seeds everything).
    classes: [K] the data set's classes it reads out, ascending; label i is classes[i].
    pool: [K * pool_per_class] unlabeled inner-loop data, from meta-training's part.
    support: [K * shots] labelled examples, class-major, from the validation part.
    query: [K * query_per_class] scored examples, class-major, from the validation part.
  """

  dataset: str
  seed: int
  classes: np.ndarray
  pool: np.ndarray
  support: np.ndarray
  query: np.ndarray


def draw_task(
  pools: task_family.Pools, name: str, seed: int, num_classes: int, shots: int, pool_per_class: int
) -> ValidationTask:
  """The validation task `seed` of data set `name`: the same for every run, every config
  seed and every other data set in the family.

  Args:
    pools: the family's pools, with a validation part.
    name: a data set of the pools.
    seed: the task's number.
    num_classes: K, classes read out (all of the data set's when it has exactly K).
    shots: support examples per class; the rest of each class's validation part is query.
    pool_per_class: unlabeled examples per class for the inner loop (drawn with
      replacement when a class has fewer).

  Returns:
    The ValidationTask.
  """
  rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
  classes = np.sort(rng.choice(len(pools.by_class[name]), num_classes, replace=False))
  pool, support, query = [], [], []
  for c in classes:
    held = pools.validation[name][c]
    order = rng.permutation(len(held))
    support.append(held[order[:shots]])
    query.append(held[order[shots:]])
    rest = pools.by_class[name][c]
    pool.append(rng.choice(rest, pool_per_class, replace=len(rest) < pool_per_class))
  return ValidationTask(
    dataset=name,
    seed=seed,
    classes=classes,
    pool=np.concatenate(pool),
    support=np.concatenate(support),
    query=np.concatenate(query),
  )


@functools.partial(jax.jit, static_argnames=("cfg", "k"))
def _unroll_tasks(
  theta, cfg: inner.InnerConfig, states: inner.TaskState, data: inner.TaskData, k: int
) -> inner.TaskState:
  return jax.vmap(lambda s, d: inner.unroll(theta, cfg, s, d, k))(states, data)


def _with_total(states: inner.TaskState, total: int) -> inner.TaskState:
  return states.replace(total=jnp.full_like(states.total, total))


@functools.partial(jax.jit, static_argnames=("cfg", "activation"))
def _task_features(cfg: inner.InnerConfig, params, pool_x, readout_x, activation: str):
  """[T, R, F] features of each task's readout examples, batch norm with the statistics of
  its whole unlabeled pool."""

  def one(p, xp, xr):
    return inner.features(cfg, p, xr, activation, inner.batch_statistics(cfg, p, xp, activation))

  return jax.vmap(one)(params, pool_x, readout_x)


class Network(NamedTuple):
  """A validation network (`parse_network`).

  Attributes:
    activation: a name of `base_model.ACTIVATIONS`.
    widths: the MLP's widths, the last the representation; () for a conv network.
    layers: a conv network's layers (`conv.layers.parse`); () for an MLP.
  """

  activation: str
  widths: tuple[int, ...]
  layers: tuple = ()

  @property
  def name(self) -> str:
    """The network in canonical form: "relu:64-64-32", "relu:conv5x5:16 pool2 dense:32"."""
    if self.layers:
      return f"{self.activation}:{' '.join(layer.spec for layer in self.layers)}"
    return f"{self.activation}:{'-'.join(str(int(w)) for w in self.widths)}"


def parse_network(spec: str) -> Network:
  """A validation network: an MLP "ACTIVATION:W1-W2-...-WL" (e.g.
  "tanh:512-512-512-512-32"), or a conv network "ACTIVATION:LAYER LAYER ..." of
  `conv.layers.FORMS` separated by spaces (e.g. "relu:conv5x5:16 pool2 conv3x3:32 pool2
  dense:32"), trained on the evaluation's images.

  Args:
    spec: the network's description (`validation.networks`).

  Returns:
    `Network`.

  Raises:
    ValueError: (one line) malformed, an unknown activation, a width below 1 or a bad
      conv layer.
  """
  act, _, rest = str(spec).partition(":")
  if act in base_model.ACTIVATIONS and conv_layers.is_conv_network(spec):
    try:
      layers = conv_layers.parse(rest.split())
    except ValueError as e:
      raise ValueError(f"config.validation.networks has {spec!r}: {e}") from None
    return Network(act, (), layers)
  try:
    out = tuple(int(w) for w in rest.split("-"))
  except ValueError:
    out = ()
  if act not in base_model.ACTIVATIONS or not out or min(out) < 1:
    raise ValueError(
      f"config.validation.networks has {spec!r}; write ACTIVATION:W1-W2-...-WL with "
      f"ACTIVATION one of {sorted(base_model.ACTIVATIONS)} and positive widths, e.g. "
      "'tanh:512-512-512-512-32', or ACTIVATION:LAYER LAYER ... for a conv network, e.g. "
      "'relu:conv5x5:16 pool2 dense:32'"
    )
  return Network(act, out)


@dataclasses.dataclass(frozen=True)
class _Group:
  """The tasks of one network and input width: one vmapped program for all of them."""

  network: str
  cfg: inner.InnerConfig
  tasks: tuple
  states: inner.TaskState  # [T], at step 0
  data: inner.TaskData  # x [T, N, D], the unlabeled pools
  readout_x: jax.Array  # [T, K * (shots + query_per_class), D], support then query


class Validator:
  """The validation tasks of a run (built once) and their accuracy under a theta.

  Args:
    config: a complete meta-training config (`validation`, `eval` for the network, image
      size and batch, `heads.shots`, `family.datasets` and `pool_per_class`,
      `family.permute_inputs`).
    family: the run's task family; its pools hold the validation part.
    rule: the rule theta belongs to.

  Raises:
    ValueError: validation.every is 0, so the family set no validation part aside. (A
      conv network with data sets of vectors is refused earlier, by the task family.)
  """

  def __init__(
    self,
    config: ml_collections.ConfigDict,
    family: task_family.TaskFamily,
    rule: local_rule.LocalRule,
  ):
    ev, val = config.eval, config.validation
    if not val.every:
      raise ValueError(
        "the validation tasks need config.validation.every > 0: only then "
        "does the task family set their examples aside"
      )
    self.datasets = tuple(config.family.datasets)
    self.inner_steps = tuple(int(n) for n in val.inner_steps)
    self.shots = int(config.heads.shots)
    default = (
      Network(ev.activation, (), conv_layers.parse(ev.conv_layers.split()))
      if ev.conv_layers
      else Network(ev.activation, tuple(ev.widths))
    )
    networks = [parse_network(n) for n in val.networks] or [default]
    self.networks = tuple(n.name for n in networks)
    self.image_size = ev.image_size
    cfgs = [
      inner.InnerConfig(
        rule=rule,
        widths=net.widths or (1,),
        activation=net.activation,
        batch_size=ev.batch_size,
        permute_inputs=config.family.permute_inputs,
        layers=net.layers,
        image_shape=(self.image_size, self.image_size) if net.layers else (),
      )
      for net in networks
    ]
    # One unroll length divides every count: one program per input width.
    self.chunk = functools.reduce(math.gcd, self.inner_steps)
    pools = family.pools
    self.num_classes = family.buckets[0].cfg.num_classes  # as many as meta-training reads out
    by_dim: dict[int, list[ValidationTask]] = {}
    for name in self.datasets:
      for seed in range(val.tasks_per_dataset):
        task = draw_task(
          pools, name, seed, self.num_classes, self.shots, config.family.pool_per_class
        )
        by_dim.setdefault(pools.input_dim(name, self.image_size), []).append(task)
    self.groups = tuple(
      self._group(pools, name, cfg, dim, tasks)
      for name, cfg in zip(self.networks, cfgs)
      for dim, tasks in by_dim.items()
    )
    self._random_init: dict | None = None

  def _group(
    self, pools: task_family.Pools, network: str, cfg: inner.InnerConfig, dim: int, tasks: list
  ) -> _Group:
    pool_x = np.stack([pools.examples(t.dataset, t.pool, self.image_size) for t in tasks])
    readout_x = np.stack(
      [
        pools.examples(t.dataset, np.concatenate([t.support, t.query]), self.image_size)
        for t in tasks
      ]
    )
    keys = jnp.stack(
      [
        jax.random.fold_in(jax.random.PRNGKey(t.seed), zlib.crc32(t.dataset.encode()))
        for t in tasks
      ]
    )
    states = jax.vmap(lambda k: inner.init_task(k, dim, cfg))(keys)
    data = inner.TaskData(
      x=jnp.asarray(pool_x),
      y=jnp.zeros(pool_x.shape[:2], jnp.int32),
      by_class=jnp.zeros((len(tasks), 1, 1), jnp.int32),
    )
    return _Group(
      network=network,
      cfg=cfg,
      tasks=tuple(tasks),
      states=states,
      data=data,
      readout_x=jnp.asarray(readout_x),
    )

  @property
  def tasks(self) -> tuple[ValidationTask, ...]:
    """Every validation task, grouped by input width (data sets in family order within),
    once (each network trains the same tasks)."""
    return tuple(t for g in self.groups if g.network == self.networks[0] for t in g.tasks)

  def _accuracies(self, group: _Group, params) -> list[float]:
    """Each task's ridge accuracy; NaN where its features are not finite (a diverged
    network), as the evaluation scores it."""
    u = np.asarray(
      _task_features(group.cfg, params, group.data.x, group.readout_x, group.cfg.activation)
    )
    n_support = self.num_classes * self.shots
    y_support = np.repeat(np.arange(self.num_classes), self.shots)
    out = []
    for task, feats in zip(group.tasks, u):
      y_query = np.repeat(np.arange(self.num_classes), len(task.query) // self.num_classes)
      if not np.isfinite(feats).all():
        out.append(float("nan"))
        continue
      out.append(
        heads.ridge_accuracy(
          feats[:n_support], y_support, feats[n_support:], y_query, self.num_classes
        )
      )
    return out

  def _by_dataset(self, per_task: dict, network: str | None = None) -> dict:
    """{name: mean accuracy over its tasks (of `network`, or over every network)}, from
    {(network, name, seed): accuracy}."""
    return {
      name: float(
        np.mean([a for (w, n, _), a in per_task.items() if n == name and network in (None, w)])
      )
      for name in self.datasets
    }

  def _mean(self, per_task: dict, network: str | None = None) -> float:
    """The mean over networks of the mean over data sets of the mean over tasks."""
    nets = self.networks if network is None else (network,)
    return float(np.mean([np.mean(list(self._by_dataset(per_task, w).values())) for w in nets]))

  def scores(self, theta) -> dict:
    """Train every validation task with `theta` and read it out at each inner-step count.

    Args:
      theta: the rule's meta-parameters (host or device arrays).

    Returns:
      {inner steps: {(network, data set, seed): accuracy}} for each of `inner_steps`.
    """
    out: dict[int, dict] = {n: {} for n in self.inner_steps}
    for group in self.groups:
      # One run read at every count, of unknown length (StepInfo.total 0); a rule that
      # reads its task's length runs once per count, told it (as the evaluation does).
      start, done = group.states, 0
      states = _with_total(start, 0)
      for n in self.inner_steps:
        if local_rule.reads_total(group.cfg.rule):
          states, done = _with_total(start, n), 0
        while done < n:
          states = _unroll_tasks(theta, group.cfg, states, group.data, self.chunk)
          done += self.chunk
        for task, acc in zip(group.tasks, self._accuracies(group, states.params)):
          out[n][(group.network, task.dataset, task.seed)] = acc
    return out

  def random_init(self) -> dict:
    """The tasks' accuracy at step 0 (their initial networks; no theta), computed once.

    Returns:
      {"val_accuracy_random_init": mean over networks and data sets,
      "val_random_init_by_dataset": {name: mean over its tasks and the networks}}, and
      with more than one network "val_random_init_by_network": {network: its mean}.
    """
    if self._random_init is None:
      per_task = {
        (g.network, t.dataset, t.seed): acc
        for g in self.groups
        for t, acc in zip(g.tasks, self._accuracies(g, g.states.params))
      }
      self._random_init = {
        "val_accuracy_random_init": self._mean(per_task),
        "val_random_init_by_dataset": self._by_dataset(per_task),
      }
      if len(self.networks) > 1:
        self._random_init["val_random_init_by_network"] = {
          w: self._mean(per_task, w) for w in self.networks
        }
    return self._random_init

  def __call__(self, theta) -> dict:
    """The validation fields of a metrics row.

    Args:
      theta: the rule's meta-parameters now.

    Returns:
      val_accuracy (at the last of `inner_steps`, the mean over networks of the mean over
      data sets of the mean over their tasks), val_accuracy_by_steps ({str(steps): the
      same at each count}), val_accuracy_by_dataset ({name: at the last count, over the
      networks}), with more than one network val_accuracy_by_network ({network:
      {str(steps): its mean}}), `random_init`'s fields and val_seconds (this call's wall
      time).
    """
    t0 = time.perf_counter()
    scores = self.scores(theta)
    last = scores[self.inner_steps[-1]]
    row = {
      "val_accuracy": self._mean(last),
      "val_accuracy_by_steps": {str(n): self._mean(per_task) for n, per_task in scores.items()},
      "val_accuracy_by_dataset": self._by_dataset(last),
    }
    if len(self.networks) > 1:
      row["val_accuracy_by_network"] = {
        w: {str(n): self._mean(per_task, w) for n, per_task in scores.items()}
        for w in self.networks
      }
    return {**row, **self.random_init(), "val_seconds": round(time.perf_counter() - t0, 4)}
