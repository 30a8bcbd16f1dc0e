"""The evaluation's methods, by name: what `config.methods` may list, the names the report
and figures print, which methods have a curve over inner-step checkpoints, and the function
that runs each on one data set and seed (`protocol.evaluate_seed`).

A method is one function of a `SeedContext` (the data set, the config, the seed's shared
network init, its readout, ...) that scores representations with `ctx.add`; registering it
is one decorator, wherever it is defined (a module of your own included, imported before
the config that names it is checked)::

  @methods.register("random_projection", display="random projection")
  def random_projection(ctx):
    w = np.random.default_rng(ctx.seed).normal(size=(ctx.ds.input_dim, 32))
    ctx.add(0, ctx.readout.score(ctx.support_x() @ w, ctx.query_x() @ w))

Any registered local rule (`metaunsup.local_rule`, e.g. the hand-designed rules of
`metaunsup.rules.zoo`) is a method without registering anything here: "local:KIND" runs the rule
registered as KIND exactly as the learned rule is run (same init, same checkpoints), with
its config fields from `config.local_rules[KIND]` (the rule's own defaults where absent),
or, for a rule at its best per horizon, from `config.local_rules_by_steps[KIND][STEPS]`:
then each checkpoint named is a run of its own from the shared init.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Callable

import jax
import numpy as np

from metaunsup import base_model, data, inner, local_rule, registry
from metaunsup.baselines import ica, kmeans, linear, supervised, vae
from metaunsup.evaluation import readout as readout_lib
from metaunsup.rules import zoo
from metaunsup.rule_files import Rule

LOCAL_PREFIX = "local:"


@dataclasses.dataclass(frozen=True)
class Method:
  """One registered evaluation method.

  Attributes:
    name: the name `config.methods` lists and the records carry.
    display: the name the report's tables and the figures print.
    run: called once per (data set, seed) with that seed's `SeedContext`.
    curve: whether it is scored at every inner-step checkpoint (read at the report step in
      the headline; drawn as a curve), else once (a flat band in the figures).
    color: its matplotlib colour in the figures (None: the next free one).
    extras: names of per-seed lists it fills with `ctx.extra` (e.g. 'vae_elbo'); results
      carry every registered method's lists, empty when it did not run.
  """

  name: str
  display: str
  run: Callable[["SeedContext"], None]
  curve: bool = False
  color: str | None = None
  extras: tuple[str, ...] = ()


METHODS: registry.Registry[Method] = registry.Registry(
  "method name", identity=lambda m: m.run.__qualname__
)


def register(
  name: str,
  *,
  display: str,
  curve: bool = False,
  color: str | None = None,
  extras: tuple[str, ...] = (),
) -> Callable:
  """Function decorator: registers `run(ctx)` as the evaluation method `name`.

  Args:
    name: the method's name in `config.methods` and the records (not starting "local:").
    display: its name in the report and the figures.
    curve: scored at every inner-step checkpoint (see `Method`).
    color: its matplotlib colour (None: the next free one).
    extras: per-seed lists it fills with `ctx.extra`.

  Returns:
    The decorator, which returns the function unchanged.

  Raises:
    ValueError: a malformed name, or one already registered to another function.
  """
  # "local:KIND" names are not registered: a local rule's kind is one (module docstring).
  METHODS.check_name(name)

  def decorate(fn: Callable[["SeedContext"], None]):
    METHODS.add(name, Method(name, display, fn, curve, color, tuple(extras)))
    return fn

  return decorate


def names() -> tuple[str, ...]:
  """The registered methods, in registration order (the package's first); "local:KIND"
  names are accepted besides.

  Returns:
    tuple of method names.
  """
  return METHODS.names()


def extras_fields() -> tuple[str, ...]:
  """Every registered method's per-seed extra lists, in registration order.

  Returns:
    tuple of field names (e.g. 'vae_elbo', 'supervised_train_accuracy').
  """
  return tuple(f for m in METHODS.values() for f in m.extras)


def local_kind(name: str) -> str | None:
  """The rule kind of a "local:KIND" method name.

  Args:
    name: a method name.

  Returns:
    KIND, or None for any other name.
  """
  return name[len(LOCAL_PREFIX) :] if name.startswith(LOCAL_PREFIX) else None


def get(name: str) -> Method:
  """The method `name`: a registered one, or "local:KIND" for a registered local rule.

  Args:
    name: a method name of `config.methods`.

  Returns:
    The `Method`.

  Raises:
    ValueError: (one line) an unknown name, or "local:KIND" for an unregistered kind
      (listing the known ones).
  """
  method = METHODS.get(name)
  if method is not None:
    return method
  kind = local_kind(name)
  if kind is None:
    raise ValueError(
      f"config.methods has {name!r}; choose from {names()} or "
      f"'{LOCAL_PREFIX}KIND' for a registered local rule "
      f"({', '.join(local_rule.kinds())})"
    )
  try:
    cls = local_rule.rule_class(kind)
  except ValueError as e:
    raise ValueError(f"config.methods has {name!r}: {e}") from None
  return Method(name, getattr(cls, "display_name", kind), _local_rule_method(kind), curve=True)


def display_name(name: str) -> str:
  """The name a report prints for a method of stored results: its registered display name,
  or (a method registered by a module this process has not imported) the name itself.

  Args:
    name: a method name of stored records.

  Returns:
    The display name.
  """
  try:
    return get(name).display
  except ValueError:
    return local_kind(name) or name


def is_curve(name: str) -> bool:
  """Whether a method of stored results has a curve over checkpoints ("local:KIND": yes;
  an unknown method: no, so its latest record per seed is read).

  Args:
    name: a method name of stored records.

  Returns:
    True for a curve method.
  """
  method = METHODS.get(name)
  return (method is not None and method.curve) or local_kind(name) is not None


def local_rule_config(config, kind: str):
  """The config of the local rule KIND a "local:KIND" method runs.

  Args:
    config: the evaluation config (reads config.local_rules).
    kind: a registered rule kind.

  Returns:
    The rule config (`local_rule.from_dict` of config.local_rules[kind], or of {}: the
    rule's defaults).

  Raises:
    ValueError: an unknown kind or field, or a bad value (one line).
  """
  fields = config.local_rules[kind] if kind in config.local_rules else {}
  if hasattr(fields, "to_dict"):
    fields = fields.to_dict()
  return local_rule.from_dict(dict(fields), kind)


def local_rule_configs_by_steps(config, kind: str) -> dict[int, Any]:
  """The configs of the local rule KIND at the checkpoints where it is run at its best per
  horizon (`config.local_rules_by_steps[KIND]`).

  Args:
    config: the evaluation config (reads config.local_rules_by_steps).
    kind: a registered rule kind.

  Returns:
    {inner steps: rule config}; {} where KIND has no entry.

  Raises:
    ValueError: a key that is not a whole number of steps, an unknown field or a bad
      value (one line).
  """
  by_steps = config.local_rules_by_steps
  if kind not in by_steps:
    return {}
  out = {}
  for steps, fields in dict(by_steps[kind]).items():
    if not str(steps).isdigit():
      raise ValueError(f"[{kind!r}] keys must be inner-step counts such as '100', got {steps!r}")
    if hasattr(fields, "to_dict"):
      fields = fields.to_dict()
    out[int(steps)] = local_rule.from_dict(dict(fields), kind)
  return out


def network_inner_config(
  rule_config, widths, activation: str, batch_size: int
) -> inner.InnerConfig:
  """The inner problem a local rule (learned or hand-designed) trains a network of the
  protocol in.

  Args:
    rule_config: the rule's config (`rules.LearnedRule`, `rules.zoo.Oja`, any local rule).
    widths: the network's layer widths; the last is the representation.
    activation: the network's activation name.
    batch_size: unlabeled examples per inner step.

  Returns:
    An `inner.InnerConfig` (hashable: one compilation per distinct value).
  """
  return inner.InnerConfig(
    rule=rule_config,
    widths=tuple(int(w) for w in widths),
    activation=activation,
    batch_size=int(batch_size),
  )


def unroll_checkpoints(
  theta, cfg: inner.InnerConfig, state: inner.TaskState, task_data: inner.TaskData, checkpoints
):
  """Runs a local rule and yields the network at every checkpoint. Steps advance in scans
  of 1000, 100, 10 and 1, so a log-spaced curve compiles at most four programs per shape.
  One run, read at every checkpoint, of unknown length (`StepInfo.total` 0); a rule that
  reads its task's length (`local_rule.reads_total`: a rate decaying to 0 at the end) gets
  one run per checkpoint instead, from the same initial state, each told its length.

  Args:
    theta: the rule's parameters ({} for Oja's rule).
    cfg: the inner problem (`network_inner_config`).
    state: the initial task state (`inner.init_task`), possibly made for another rule (the
      evaluation's init shared by every method): the rule's own state is started afresh.
    task_data: the unlabeled data (`inner.unlabeled_data`).
    checkpoints: sorted inner-step counts.

  Yields:
    (step, `base_model.BaseParams`) at every checkpoint; step 0 is the initial network.
  """
  start = state.replace(rule_state=local_rule.init_state(cfg.rule, state.params))
  done = 0
  state = inner.with_total(start, 0)
  for target in checkpoints:
    if local_rule.reads_total(cfg.rule):
      state, done = inner.with_total(start, target), 0
    while done < target:
      k = next(c for c in (1000, 100, 10, 1) if c <= target - done)
      state = inner.jitted_unroll(theta, cfg, state, task_data, k)
      done += k
    yield target, state.params


def first_layer_weights(params: base_model.BaseParams) -> np.ndarray:
  """First-layer weights in the data's own input order (the network permutes its input:
  row j of W[0] reads input perm[j]).

  Args:
    params: a base network.

  Returns:
    [D, width] float weights.
  """
  w = np.asarray(params.W[0])
  out = np.empty_like(w)
  out[np.asarray(params.perm)] = w
  return out


@dataclasses.dataclass(frozen=True)
class SeedContext:
  """What a method sees of one data set and seed, and where it puts its results.

  Attributes:
    method: the method being run (names its records).
    spec: the data set's spec (names its records).
    ds: the loaded data set.
    config: the evaluation config.
    seed: the seed (network init, readout, the method's own randomness).
    learned: the rule under evaluation.
    state: the initial task state every method starts from (`state.params`: the network).
    task_data: the unlabeled training data (`inner.unlabeled_data`).
    readout: the seed's labelled support and query and the heads (`readout.Readout`).
    pca: returns the data set's `linear.PCA` (fitted once, shared by seeds).
    checkpoints: the data set's inner-step checkpoints (`protocol.dataset_checkpoints`).
    keys: the PRNG keys of the methods whose keys predate `key` (vae, supervised).
    keep_first_layer: whether first-layer weights are kept (the first seed).
    result: the seed's results: 'records', one list per extras field, 'seconds'.
    first_layer: method -> first-layer weights [D, width] (`keep`).
  """

  method: str
  spec: str
  ds: data.Dataset
  config: Any
  seed: int
  learned: Rule
  state: inner.TaskState
  task_data: inner.TaskData
  readout: readout_lib.Readout
  pca: Callable[[], linear.PCA]
  checkpoints: tuple
  keys: dict
  keep_first_layer: bool
  result: dict
  first_layer: dict

  @property
  def activation(self) -> str:
    """The network's activation name (config.activation)."""
    return self.config.activation

  @property
  def key(self) -> jax.Array:
    """This method's PRNG key: derived from the seed and the method's name, so adding a
    method changes no other method's numbers."""
    if self.method in self.keys:
      return self.keys[self.method]
    return jax.random.fold_in(
      jax.random.PRNGKey(self.seed), zlib.crc32(self.method.encode()) & 0x7FFFFFFF
    )

  def add(self, step: int, scores: dict) -> None:
    """Records this method's few-shot accuracy at one inner step.

    Args:
      step: the inner step (0 for a method without steps).
      scores: {(shots, head): accuracy} (`readout.Readout.score`, `score_network`).
    """
    self.result["records"].extend(
      {
        "dataset": self.spec,
        "method": self.method,
        "step": int(step),
        "seed": int(self.seed),
        "shots": int(s),
        "head": h,
        "accuracy": float(a),
      }
      for (s, h), a in scores.items()
    )

  def extra(self, field: str, row: dict) -> None:
    """Appends a row to one of this method's per-seed extras lists.

    Args:
      field: one of the method's registered `extras`.
      row: JSON-able values.
    """
    self.result.setdefault(field, []).append(row)

  def keep(self, params: base_model.BaseParams) -> None:
    """Keeps the network's first-layer weights for the receptive-field figure (first seed
    only).

    Args:
      params: the network after the method's training.
    """
    if self.keep_first_layer:
      self.first_layer[self.method] = first_layer_weights(params)

  def support_x(self) -> np.ndarray:
    """The max-shot support inputs, [classes * max_shots, D] (order of `readout.score`)."""
    return self.ds.train_x[self.readout.support.reshape(-1)]

  def query_x(self) -> np.ndarray:
    """The query inputs, [Q, D]."""
    return self.ds.test_x[self.readout.query]

  def run_local_rule(self, theta, rule_config, checkpoints: tuple[int, ...] = ()) -> None:
    """Trains the shared init with a local rule, scoring it at every checkpoint and keeping
    its first layer after the last one.

    Args:
      theta: the rule's meta-parameters.
      rule_config: the rule's config (hashable, with `update`).
      checkpoints: the inner-step counts to score at; () for all of `self.checkpoints`.
    """
    cfg = network_inner_config(
      rule_config, self.config.widths, self.activation, self.config.batch_size
    )
    for step, params in unroll_checkpoints(
      theta, cfg, self.state, self.task_data, checkpoints or self.checkpoints
    ):
      self.add(step, self.readout.score_network(params, self.activation))
      if step == self.checkpoints[-1]:
        self.keep(params)


def _local_rule_method(kind: str) -> Callable[[SeedContext], None]:
  def run(ctx: SeedContext) -> None:
    rule_config = local_rule_config(ctx.config, kind)
    by_steps = local_rule_configs_by_steps(ctx.config, kind)
    if not by_steps:
      ctx.run_local_rule(rule_config.init_theta(ctx.key), rule_config)
      return
    # At its best per horizon: a run of its own to each checkpoint, from the shared init.
    for step in ctx.checkpoints:
      config_at = by_steps.get(step, rule_config)
      ctx.run_local_rule(config_at.init_theta(ctx.key), config_at, checkpoints=(step,))

  return run


# The package's methods. A new baseline is its algorithm (metaunsup/baselines/) and one
# registered function here; results.json, the report and the figures follow.


@register("rule", display="learned rule", curve=True, color="C3")
def _rule(ctx: SeedContext) -> None:
  ctx.run_local_rule(ctx.learned.theta, ctx.learned.config)


@register("random_init", display="random init", color="0.4")
def _random_init(ctx: SeedContext) -> None:
  ctx.add(0, ctx.readout.score_network(ctx.state.params, ctx.activation))
  ctx.keep(ctx.state.params)


@register("vae", display="VAE", curve=True, color="C0", extras=("vae_elbo",))
def _vae(ctx: SeedContext) -> None:
  for step, params, elbo in vae.train_vae(
    ctx.key,
    ctx.state.params,
    ctx.ds.train_x,
    activation=ctx.activation,
    cfg=vae.VAEConfig(**ctx.config.vae.to_dict()),
    checkpoints=ctx.checkpoints,
  ):
    ctx.add(step, ctx.readout.score_network(params, ctx.activation))
    ctx.extra("vae_elbo", {"seed": ctx.seed, "step": step, "elbo": float(elbo)})
    if step == ctx.checkpoints[-1]:
      ctx.keep(params)


@register("supervised", display="supervised", color="C2", extras=("supervised_train_accuracy",))
def _supervised(ctx: SeedContext) -> None:
  readout, ds = ctx.readout, ctx.ds
  for s, k in zip(readout.shots, jax.random.split(ctx.key, len(readout.shots))):
    idx = readout.support_idx(s)
    params, train_acc = supervised.train_classifier(
      k,
      ctx.state.params,
      ds.train_x[idx],
      ds.train_y[idx],
      activation=ctx.activation,
      num_classes=ds.num_classes,
      **ctx.config.supervised.to_dict(),
    )
    ctx.add(ctx.config.supervised.steps, readout.score_network(params, ctx.activation, s))
    ctx.extra(
      "supervised_train_accuracy", {"seed": ctx.seed, "shots": int(s), "accuracy": float(train_acc)}
    )


@register("oja", display="Oja", curve=True, color="C1")
def _oja(ctx: SeedContext) -> None:
  ctx.run_local_rule({}, zoo.Oja(**ctx.config.oja.to_dict()))


@register("pca", display="PCA-32", color="C4")
def _pca(ctx: SeedContext) -> None:
  transform = ctx.pca().transform
  ctx.add(0, ctx.readout.score(transform(ctx.support_x()), transform(ctx.query_x())))


@register("raw", display="raw inputs", color="C5")
def _raw(ctx: SeedContext) -> None:
  ctx.add(0, ctx.readout.score(ctx.support_x(), ctx.query_x()))


@register("kmeans", display="k-means-32", color="C6")
def _kmeans(ctx: SeedContext) -> None:
  # Fitted per seed (its starts are random), with as many centroids as the network has
  # features, on the unlabeled train split.
  fitted = kmeans.fit_kmeans(ctx.ds.train_x, int(ctx.config.widths[-1]), seed=ctx.seed)
  ctx.add(0, ctx.readout.score(fitted.transform(ctx.support_x()), fitted.transform(ctx.query_x())))


@register("ica", display="ICA-32", color="C7")
def _ica(ctx: SeedContext) -> None:
  fitted = ica.fit_ica(ctx.ds.train_x, int(ctx.config.widths[-1]), seed=ctx.seed)
  ctx.add(0, ctx.readout.score(fitted.transform(ctx.support_x()), fitted.transform(ctx.query_x())))
