"""The inner problem, kept apart from any gradient estimator (as in learned_optimization):
initialise a task, unroll k inner steps of the rule with `lax.scan`, score the new state
with the few-shot meta-objective. Everything is a pure function of explicit pytrees, so a
batch of tasks is one `jax.vmap`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import base_model, heads, local_rule, preprocess
from metaunsup.conv import layers as conv_layers
from metaunsup.conv import network as conv_network
from metaunsup.conv import update as conv_update


@dataclasses.dataclass(frozen=True)
class InnerConfig:
  """Static description of a task family member (hashable; closes over jitted code).

  A config with `layers` trains a convolutional network (`metaunsup.conv`, issue 38) on
  the images of `image_shape` (one channel; x [N, H * W] is read as [N, H, W, 1]) instead
  of the MLP of `widths`: its pixels stay in place (`permute_inputs` is not read) and its
  rule must be one a conv network trains with (`conv.update.check_rule`: the compact rule
  or a zoo rule).

  Raises:
    ValueError: non-positive widths, an unknown activation, batch_size < 2, shots or
      query_per_class < 1, min_total_steps > max_total_steps, spatial augmentations
      without image_shape, an unknown readout_scaling, or conv `layers` without
      image_shape, that do not fit it, or with a rule they cannot train with (one line
      each).
  """

  rule: local_rule.LocalRule  # rules.LearnedRule, rules.zoo.Oja, any registered
  widths: tuple = (64, 64, 32)
  activation: str = "relu"
  # Non-empty: every task draws its activation from these (uniformly, at each reset; its
  # `TaskState.activation`), and `activation` is not read. Empty: every task uses
  # `activation`, and nothing is drawn (the random streams of older runs are unchanged).
  activations: tuple = ()
  batch_size: int = 64
  permute_inputs: bool = True
  shots: int = 10  # labelled support examples per class (meta-objective)
  query_per_class: int = 10
  num_classes: int = 10
  ridge_lambda: float = 0.1
  # How the meta-objective's ridge readout rescales the features (heads.READOUT_SCALINGS):
  # "standardize" makes the meta-loss invariant to the features' scale and shift.
  readout_scaling: str = "none"
  reference_batch: int = 256  # unlabeled batch whose statistics normalise the readout
  min_total_steps: int = 50  # each task is reset after a log-uniform number of steps
  max_total_steps: int = 500
  image_shape: tuple = ()  # (H, W) of image inputs; spatial augmentations need it
  augment: preprocess.AugmentConfig = preprocess.AugmentConfig()
  # Rematerialise the unroll in the meta-gradient: memory O(sqrt(k)) carries instead of
  # O(k) steps' intermediates, for up to two extra forward passes (no slower on a CPU,
  # where it saves memory traffic: bench/results.md). Values are unchanged.
  remat: bool = False
  # Non-empty: a conv network of these layers (`conv.layers.parse`; strings are parsed at
  # construction) on images of image_shape, instead of the MLP of `widths`.
  layers: tuple = ()

  def __post_init__(self):
    if self.layers:
      object.__setattr__(self, "layers", conv_layers.parse(self.layers))
      if len(self.image_shape) != 2:
        raise ValueError(
          "a conv network (layers) needs image inputs: set image_shape (H, W), got "
          f"{self.image_shape!r}"
        )
      conv_update.check_rule(self.rule)
      conv_architecture(self)  # one line if the layers do not fit the images
    if not self.widths or any(int(w) < 1 for w in self.widths):
      raise ValueError(f"widths must be positive integers, got {self.widths}")
    for name in (self.activation, *self.activations):
      base_model.get_activation(name)
    if self.batch_size < 2:
      raise ValueError(f"batch_size must be at least 2 (batch norm), got {self.batch_size}")
    if self.shots < 1 or self.query_per_class < 1:
      raise ValueError("shots and query_per_class must be at least 1")
    if not 1 <= self.min_total_steps <= self.max_total_steps:
      raise ValueError(
        "need 1 <= min_total_steps <= max_total_steps, got "
        f"{self.min_total_steps}, {self.max_total_steps}"
      )
    if self.readout_scaling not in heads.READOUT_SCALINGS:
      raise ValueError(
        f"readout_scaling={self.readout_scaling!r} is unknown; choose one of "
        f"{heads.READOUT_SCALINGS}"
      )
    if self.augment.spatial and len(self.image_shape) != 2:
      raise ValueError(
        "shift / rotation augmentations need image inputs (image_shape (H, W)); "
        "use only 'noise' for vector data"
      )


@functools.lru_cache(maxsize=None)
def _architecture(layers: tuple, image_shape: tuple) -> conv_network.Architecture:
  return conv_network.architecture(layers, (*image_shape, 1))


def conv_architecture(cfg: InnerConfig) -> conv_network.Architecture:
  """The conv network of a config with `layers`, on its one-channel images.

  Args:
    cfg: an InnerConfig with layers and image_shape.

  Returns:
    `conv.network.Architecture` (built once per layers and image shape).

  Raises:
    ValueError: the layers do not fit the images (one line).
  """
  return _architecture(cfg.layers, tuple(cfg.image_shape))


def _images(cfg: InnerConfig, x: jax.Array) -> jax.Array:
  """Inputs [N, H * W] as the conv network's images [N, H, W, 1]."""
  return x.reshape((x.shape[0], *cfg.image_shape, 1))


def init_params(key: jax.Array, input_dim: int, cfg: InnerConfig) -> Any:
  """A fresh base network: the MLP of cfg.widths (`base_model.init`, inputs permuted as
  cfg says) or, with cfg.layers, the conv network (`conv.network.init`).

  Args:
    key: PRNG key.
    input_dim: D, the width of the inputs (H * W for a conv network).
    cfg: the task's InnerConfig.

  Returns:
    `base_model.BaseParams` or `conv.network.ConvParams`.
  """
  if cfg.layers:
    return conv_network.init(key, conv_architecture(cfg))
  return base_model.init(key, input_dim, cfg.widths, permute=cfg.permute_inputs)


def batch_statistics(
  cfg: InnerConfig, params: Any, x: jax.Array, activation: base_model.Activation
) -> list:
  """The batch-norm statistics of a batch, per layer (what `features` takes).

  Args:
    cfg: the task's InnerConfig.
    params: its network (`init_params`).
    x: a reference batch [N, D].
    activation: the task's activation.

  Returns:
    L pairs (mean, var), one per trainable layer.
  """
  if cfg.layers:
    return conv_network.statistics(conv_architecture(cfg), params, _images(cfg, x), activation)
  return base_model.apply(params, x, activation).stats


def features(
  cfg: InnerConfig, params: Any, x: jax.Array, activation: base_model.Activation, stats: list
) -> jax.Array:
  """The representation of x: the last layer's output (flattened, for a conv network),
  batch norm with `stats` (`batch_statistics`).

  Args:
    cfg, params, activation: as `batch_statistics`.
    x: inputs [N, D].
    stats: the statistics of a reference batch.

  Returns:
    [N, F] features.
  """
  if cfg.layers:
    arch = conv_architecture(cfg)
    return conv_network.features(arch, params, _images(cfg, x), activation, stats)
  return base_model.features(params, x, activation, stats)


class TaskData(flax.struct.PyTreeNode):
  """Random-access arrays of one data split (a leading [T] axis when batched): numpy while
  the task family assembles a step's data on the host, device arrays in the jitted step.

  Attributes:
    x: inputs [N, D] float32.
    y: labels [N] int32.
    by_class: [C, M] int32; by_class[c] lists indices of class c (truncated to the
      smallest class so the array is rectangular).
  """

  x: jax.Array | np.ndarray
  y: jax.Array | np.ndarray
  by_class: jax.Array | np.ndarray


class TaskState(flax.struct.PyTreeNode):
  """One task's inner-loop state (a leading [T] axis when batched).

  Attributes:
    params: the base network's weights (`init_params`: `base_model.BaseParams`, or with
      `InnerConfig.layers` the conv network's `conv.network.ConvParams`).
    key: the task's PRNG key (batches, readout samples).
    step: inner steps taken since the last reset (int32).
    total: inner steps this task runs before it is reset (int32).
    activation: int32 index into `InnerConfig.activations` where the config draws the
      activation per task; None (no leaf, as in runs from before) where it does not.
    rule_state: the rule's per-run state (`local_rule.HasState`: e.g. a count per unit),
      started and reset with the task; None (no leaf, as in runs from before) for a rule
      that keeps none.
  """

  params: Any  # base_model.BaseParams, or conv.network.ConvParams
  key: jax.Array
  step: jax.Array  # inner steps taken since the last reset
  total: jax.Array  # inner steps this task runs before it is reset
  activation: jax.Array | None = None
  rule_state: Any = None


def make_task_data(x: np.ndarray, y: np.ndarray, num_classes: int) -> TaskData:
  """A labelled split as TaskData.

  Args:
    x: inputs [N, D].
    y: labels [N] in [0, num_classes).
    num_classes: C.

  Returns:
    TaskData with by_class [C, M], M the smallest class's count.

  Raises:
    ValueError: a class with fewer than 2 examples.
  """
  y = np.asarray(y)
  counts = np.bincount(y, minlength=num_classes)
  if counts.min() < 2:
    raise ValueError(f"every class needs at least 2 labelled examples, counts are {counts}")
  m = counts.min()
  by_class = np.stack([np.flatnonzero(y == c)[:m] for c in range(num_classes)])
  return TaskData(
    x=jnp.asarray(x, jnp.float32),
    y=jnp.asarray(y, jnp.int32),
    by_class=jnp.asarray(by_class, jnp.int32),
  )


def unlabeled_data(x) -> TaskData:
  """Data for `unroll` alone (it never reads labels): evaluation and the public API.

  Args:
    x: inputs [N, D].

  Returns:
    TaskData with zero labels and an empty by_class.
  """
  x = jnp.asarray(x, jnp.float32)
  return TaskData(x=x, y=jnp.zeros(x.shape[0], jnp.int32), by_class=jnp.zeros((1, 1), jnp.int32))


# ---- the task lifecycle -----------------------------------------------------------------
# A task runs `total` inner steps, drawn log-uniformly in [min_total_steps, max_total_steps]
# (Metz et al., ICLR 2019, App. B), and then starts over from a fresh network; meta-training
# sees it through truncations (`training.truncation_schedule`).


def sample_total_steps(key: jax.Array, cfg: InnerConfig) -> jax.Array:
  """A task's total length: log-uniform in [cfg.min_total_steps, cfg.max_total_steps].

  Args:
    key: PRNG key.
    cfg: the task's InnerConfig (its min_total_steps and max_total_steps).

  Returns:
    int32 scalar, in inner steps.
  """
  lo, hi = np.log(cfg.min_total_steps), np.log(cfg.max_total_steps + 1)
  return jnp.floor(jnp.exp(jax.random.uniform(key, (), minval=lo, maxval=hi))).astype(jnp.int32)


def init_task(
  key: jax.Array, input_dim: int, cfg: InnerConfig, random_offset: bool = False
) -> TaskState:
  """A fresh base network. With `random_offset` the task is cut short by a random part of
  its length so that a batch of tasks does not reset in lock-step.

  Args:
    key: PRNG key.
    input_dim: D.
    cfg: the task's InnerConfig.
    random_offset: shorten the task by a uniform number of steps in [0, total).

  Returns:
    TaskState at step 0; its total length from `sample_total_steps` (less the offset).
  """
  k_params, k_total, k_offset, k_state = jax.random.split(key, 4)
  total = sample_total_steps(k_total, cfg)
  if random_offset:
    # The fresh network starts at step 0 of a shorter life, not part-way through a long one:
    # a rule that knows the time (`local_rule.StepInfo`) must not read steps never taken.
    # Resets come at the same inner steps as with the offset as a starting step.
    total = total - jax.random.randint(k_offset, (), 0, total)
  step = jnp.zeros((), jnp.int32)
  params = init_params(k_params, input_dim, cfg)
  activation = None
  if cfg.activations:
    # A key of its own (not a fifth split), so the four streams above stay as they were.
    activation = jax.random.randint(jax.random.fold_in(key, 5), (), 0, len(cfg.activations))
  return TaskState(
    params=params,
    key=k_state,
    step=step,
    total=total,
    activation=activation,
    rule_state=local_rule.init_state(cfg.rule, params),
  )


def with_total(state: TaskState, total: int) -> TaskState:
  """The task told another length: what a rule that knows the time reads as
  `StepInfo.total` (the evaluation and `apply_rule` know theirs; 0: unknown, an anytime run
  read at several horizons).

  Args:
    state: a TaskState (no leading task axis).
    total: inner steps, >= 0.

  Returns:
    The state with `total` replaced.
  """
  return state.replace(total=jnp.asarray(total, jnp.int32))


def task_activation(cfg: InnerConfig, state: TaskState) -> base_model.Activation:
  """The activation of one task: its own draw (`state.activation`) where the config draws
  per task, else `cfg.activation`.

  Args:
    cfg: the task's InnerConfig.
    state: its TaskState (no leading task axis).

  Returns:
    A name of `base_model.ACTIVATIONS`, or an elementwise function of the task's draw.
  """
  if not cfg.activations:
    return cfg.activation
  if state.activation is None:
    raise ValueError(
      "a task of a per-task-activation config has no activation; make it with init_task"
    )
  return base_model.task_activation(cfg.activations, state.activation)


def init_tasks(key: jax.Array, input_dim: int, cfg: InnerConfig, num_tasks: int) -> TaskState:
  """A batch of fresh tasks, each at a random offset into its length, so that the batch
  does not reset in lock-step.

  Args:
    key: PRNG key.
    input_dim: D, the width of the tasks' inputs.
    cfg: their InnerConfig.
    num_tasks: T.

  Returns:
    TaskState with a leading [T] task axis on every leaf.
  """
  return jax.vmap(lambda k: init_task(k, input_dim, cfg, random_offset=True))(
    jax.random.split(key, num_tasks)
  )


def tree_where(mask: jax.Array, new, old):
  """Per task [T]: `new` where mask, else `old` (any trailing shapes).

  Args:
    mask: bool [T].
    new: a tree of leaves [T, ...].
    old: a tree of the same structure and shapes.

  Returns:
    the tree, leaf by leaf.
  """
  return jax.tree_util.tree_map(
    lambda n, o: jnp.where(mask.reshape(mask.shape + (1,) * (o.ndim - mask.ndim)), n, o), new, old
  )


def reset_finished(
  key: jax.Array, cfg: InnerConfig, states: TaskState, task_losses: jax.Array, input_dim: int
) -> tuple[TaskState, jax.Array]:
  """Tasks that reached their length (or whose meta-loss is not finite) start again from a
  fresh network (no offset).

  Args:
    key: PRNG key of the fresh networks.
    cfg: the tasks' InnerConfig.
    states: the task states [T] after a truncation.
    task_losses: their meta-losses [T].
    input_dim: D, the tasks' input width.

  Returns:
    (states [T] with the finished ones replaced, done [T] bool).
  """
  done = (states.step >= states.total) | ~jnp.isfinite(task_losses)
  fresh = jax.vmap(lambda k_: init_task(k_, input_dim, cfg))(jax.random.split(key, done.shape[0]))
  return tree_where(done, fresh, states), done


def inner_step(
  theta,
  cfg: InnerConfig,
  params: Any,
  x_batch: jax.Array,
  activation: base_model.Activation | None = None,
  rule_state: Any = None,
  info: local_rule.StepInfo | None = None,
) -> tuple[Any, Any]:
  """One step of the rule: forward pass on a batch, then the rule's neuron-local update of
  every layer (Metz et al., ICLR 2019, Sec. 3: no loss, no backprop).

  Args:
    theta: the rule's meta-parameters.
    cfg: the task's InnerConfig (its rule and activation).
    params: the base network's weights (`init_params`: the MLP's, or with cfg.layers the
      conv network's, every layer updated from its own patches: `conv.update`).
    x_batch: unlabeled inputs [B, D].
    activation: the task's activation (`task_activation`); None: cfg.activation.
    rule_state: the rule's state (`TaskState.rule_state`; None for a rule without).
    info: the step's time (`local_rule.StepInfo`); None: step 0 of a task of unknown length.

  Returns:
    (the updated weights, the rule's new state).
  """
  activation = cfg.activation if activation is None else activation
  if info is None:
    info = local_rule.StepInfo(step=jnp.zeros((), jnp.int32), total=jnp.zeros((), jnp.int32))
  if cfg.layers:
    arch = conv_architecture(cfg)
    patches = conv_network.apply(arch, params, _images(cfg, x_batch), activation)
    return conv_update.update(cfg.rule, theta, params, patches, info.step), rule_state
  acts = base_model.apply(params, x_batch, activation)
  return local_rule.apply_update(cfg.rule, theta, params, acts, rule_state, info)


def sample_batch(key, data: TaskData, batch_size: int) -> jax.Array:
  """Inputs drawn uniformly with replacement.

  Args:
    key: PRNG key.
    data: TaskData, x [N, D].
    batch_size: B.

  Returns:
    x_batch [B, D].
  """
  return data.x[jax.random.randint(key, (batch_size,), 0, data.x.shape[0])]


def _scan_n(step, carry, n: int):
  return jax.lax.scan(lambda c, _: (step(c), None), carry, None, length=n)[0]


def _remat_scan(step, carry, k: int):
  """`k` applications of `step` whose backward pass stores about 2 sqrt(k) carries: an
  outer scan over chunks keeps only each chunk's input carry, a chunk is recomputed in
  the backward pass, and inside it every step is checkpointed too, so no step's
  intermediates are ever stored for more than one step at a time."""
  step = jax.checkpoint(step)
  chunk = max(1, math.isqrt(k))
  num_chunks, rest = divmod(k, chunk)
  carry = _scan_n(jax.checkpoint(lambda c: _scan_n(step, c, chunk)), carry, num_chunks)
  return _scan_n(step, carry, rest)


def unroll(theta, cfg: InnerConfig, state: TaskState, data: TaskData, k: int) -> TaskState:
  """k inner steps of the rule on unlabeled batches (labels are never read here).

  Args:
    theta: the rule's meta-parameters.
    cfg: the task's InnerConfig (remat: rematerialise the scan for the backward pass).
    state: the task's TaskState.
    data: its TaskData (x [N, D]).
    k: inner steps (static).

  Returns:
    TaskState after k steps (step += k).
  """

  activation = task_activation(cfg, state)

  def step(carry):
    params, key, rule_state, i = carry
    key, k_batch = jax.random.split(key)
    x_batch = sample_batch(k_batch, data, cfg.batch_size)
    info = local_rule.StepInfo(step=i, total=state.total)
    params, rule_state = inner_step(theta, cfg, params, x_batch, activation, rule_state, info)
    return params, key, rule_state, i + 1

  carry = (state.params, state.key, state.rule_state, state.step)
  scan = _remat_scan if cfg.remat else _scan_n
  params, key, rule_state, step_count = scan(step, carry, k)
  return state.replace(params=params, key=key, rule_state=rule_state, step=step_count)


@functools.partial(jax.jit, static_argnames=("cfg", "k"))
def jitted_unroll(theta, cfg: InnerConfig, state: TaskState, data: TaskData, k: int) -> TaskState:
  """`unroll` compiled once per (config, shapes, k): `metaunsup.apply_rule` and evaluation.

  Args:
    theta: the rule's meta-parameters.
    cfg: the task's InnerConfig (static).
    state: one task's TaskState.
    data: its TaskData (x [N, D]; labels are not read).
    k: inner steps (static).

  Returns:
    The TaskState after k inner steps.
  """
  return unroll(theta, cfg, state, data, k)


def sample_support_query(key, data: TaskData, shots: int, query_per_class: int):
  """Class-balanced, disjoint support and query index sets.

  Args:
    key: PRNG key.
    data: TaskData (by_class [C, M]).
    shots: support examples per class.
    query_per_class: query examples per class.

  Returns:
    (support [C * shots], query [C * query_per_class]) int indices into data.x.
  """
  num_classes, m = data.by_class.shape
  order = jnp.argsort(jax.random.uniform(key, (num_classes, m)), axis=1)
  picked = jnp.take_along_axis(data.by_class, order[:, : shots + query_per_class], axis=1)
  return picked[:, :shots].reshape(-1), picked[:, shots:].reshape(-1)


def meta_loss(
  cfg: InnerConfig,
  params: Any,
  data: TaskData,
  key,
  activation: base_model.Activation | None = None,
):
  """(loss, accuracy) of the ridge readout on the representation, its features rescaled as
  cfg.readout_scaling says. Batch norm uses the statistics of an unlabeled reference
  batch, as `TrainedModel.features` does. With augmentations on, the labelled examples are
  augmented and the readout must also regress the augmentation parameters (the paper's
  extra targets).

  Args:
    cfg: the task's InnerConfig.
    params: the base network's weights (`init_params`: the MLP's or the conv network's).
    data: labelled TaskData (x [N, D], y [N], by_class [C, M]).
    key: PRNG key of the reference batch, the split and the augmentations.
    activation: the task's activation (`task_activation`); None: cfg.activation.

  Returns:
    (loss, accuracy) float32 scalars (`heads.ridge_meta_objective`).
  """
  activation = cfg.activation if activation is None else activation
  k_ref, k_split = jax.random.split(key)
  stats = batch_statistics(cfg, params, sample_batch(k_ref, data, cfg.reference_batch), activation)
  s_idx, q_idx = sample_support_query(k_split, data, cfg.shots, cfg.query_per_class)
  x_s, x_q, extra_s, extra_q = data.x[s_idx], data.x[q_idx], None, None
  if cfg.augment.kinds:
    k_s, k_q = jax.random.split(jax.random.fold_in(k_split, 1))
    x_s, extra_s = preprocess.augment(k_s, x_s, cfg.image_shape, cfg.augment)
    x_q, extra_q = preprocess.augment(k_q, x_q, cfg.image_shape, cfg.augment)
  u_s = features(cfg, params, x_s, activation, stats)
  u_q = features(cfg, params, x_q, activation, stats)
  return heads.ridge_meta_objective(
    u_s,
    data.y[s_idx],
    u_q,
    data.y[q_idx],
    cfg.num_classes,
    cfg.ridge_lambda,
    extra_s,
    extra_q,
    readout_scaling=cfg.readout_scaling,
  )


def truncated_loss(theta, cfg: InnerConfig, state: TaskState, data: TaskData, k: int):
  """Unroll k steps from `state` and score the result (Metz et al., ICLR 2019's truncated
  meta-objective).

  Args:
    theta: the rule's meta-parameters.
    cfg: the task's InnerConfig.
    state: the task's TaskState.
    data: labelled TaskData, x [N, D].
    k: inner steps (static).

  Returns:
    (loss, (new_state, accuracy)).
  """
  chex.assert_rank(data.x, 2)
  new_state = unroll(theta, cfg, state, data, k)
  key, k_meta = jax.random.split(new_state.key)
  loss, acc = meta_loss(cfg, new_state.params, data, k_meta, task_activation(cfg, new_state))
  return loss, (new_state.replace(key=key), acc)


def trajectory_loss(
  theta,
  cfg: InnerConfig,
  state: TaskState,
  data: TaskData,
  k: int,
  points: int,
  worsening: float = 0.0,
):
  """A k-step truncation scored at `points` evenly spaced points (the last after step k):
  the mean of their meta-losses, plus `worsening` times the sum of every increase from one
  point to the next, the first measured against the state the truncation starts from.
  points=1, worsening=0 is `truncated_loss`.

  Args:
    theta, cfg, state, data, k: as `truncated_loss`.
    points: scored points in the truncation.
    worsening: weight of the penalty on increases.

  Returns:
    (loss, (new_state, accuracy at the end)).

  Raises:
    ValueError: more points than steps.
  """
  chunks = [k // points] * (points - 1) + [k - (k // points) * (points - 1)]
  if min(chunks) < 1:
    raise ValueError(f"cannot score {points} points in a truncation of {k} steps")
  key, k_start = jax.random.split(state.key)
  state = state.replace(key=key)
  previous = (
    meta_loss(cfg, state.params, data, k_start, task_activation(cfg, state))[0]
    if worsening
    else None
  )
  scores = []
  penalty: jax.Array | float = 0.0
  for n in chunks:
    score, (state, acc) = truncated_loss(theta, cfg, state, data, n)
    if worsening:
      penalty = penalty + jax.nn.relu(score - previous)
      previous = score
    scores.append(score)
  return jnp.mean(jnp.stack(scores)) + worsening * penalty, (state, acc)


def advance(theta, cfg: InnerConfig, state: TaskState, data: TaskData, n: int) -> TaskState:
  """n forward-only inner steps: no gradient flows to theta, so nothing is stored for a
  backward pass (the cheap way to carry a task to old ages between truncations).

  Args:
    theta, cfg, state, data: as `unroll`.
    n: inner steps (static).

  Returns:
    TaskState after n steps.
  """
  return unroll(jax.lax.stop_gradient(theta), cfg, state, data, n)
