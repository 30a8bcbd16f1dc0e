"""The interface every local update rule implements, learned or hand-designed, and the
registry that finds a rule's class from the `kind` a rule file or a config names. This
module is the interface only: the package's rules live in `metaunsup.rules`, and reach the
registry as any other package's do, by their `register` decorator when imported, or by the
entry-point group "metaunsup.rules" (pyproject.toml) when a kind is looked up first.

A local rule turns one forward pass of the base network on an unlabeled batch into new
weights, each unit seeing only what is local to it (Metz et al., ICLR 2019, Sec. 3). Its
config is a frozen, hashable dataclass (it closes over jitted code); its meta-parameters
theta are a pytree of arrays, empty for a rule with nothing to meta-learn. Everything that
drives a rule (`inner.unroll`, `apply_rule`, meta-training, the evaluation, rule files and
checkpoints) goes through this interface only, as learned_optimization's
`LearnedOptimizer` is driven through `init` / `opt_fn`.

A new rule is one file and one decorator::

  @local_rule.register("my_hebb")
  @dataclasses.dataclass(frozen=True)
  class MyHebb(local_rule.LocalRuleBase):
    lr: float = 0.01
    def init_theta(self, key): return {"gain": jnp.ones(())}
    def update(self, theta, params, acts): ...

A rule that knows the time or keeps per-run state (a schedule, a count per unit) adds
`init_state(params)`, `update_with_state(theta, params, acts, state, info)` and
`reads_total()` (`HasState`); the inner loop then passes each step's `StepInfo` and carries
the state with the task. And, for a rule in a package of its own that a rule file should
find by kind without an import, an entry point in that package's pyproject.toml::

  [project.entry-points."metaunsup.rules"]
  my_hebb = "my_package.my_hebb:MyHebb"
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, ClassVar, Protocol, Self, TypeAlias, TypeVar, runtime_checkable

import chex
import flax.struct
import jax
import jax.numpy as jnp

from metaunsup import base_model, registry

# The kind of a rule file or checkpoint that names none: everything written before kinds
# existed holds the learned rule.
DEFAULT_KIND = "learned"

# The entry-point group through which an installed package adds rule kinds.
ENTRY_POINT_GROUP = "metaunsup.rules"

#: A rule's meta-parameters: a pytree of float32 arrays ({} for a hand-designed rule).
Theta: TypeAlias = Any


def _adopt(kind: str, loaded: object) -> None:
  # An entry point that names an undecorated rule class registers it under its name.
  if isinstance(loaded, type):
    register(kind)(loaded)


RULES: registry.Registry[type[LocalRule]] = registry.Registry(
  "rule kind", entry_point_group=ENTRY_POINT_GROUP, adopt=_adopt
)


@runtime_checkable
class LocalRule(Protocol):
  """What a local rule provides (a frozen, hashable dataclass registered under `kind`).

  Four capabilities are optional, outside the protocol, each a protocol of its own:
  `HasPenalty` (`penalty(theta) -> scalar`, which meta-training adds to the meta-loss,
  `training.meta_step`; the compact rule's L1), `HasThetaFrom` (`theta_from(zoo_rule,
  key) -> theta`, the warm start `config.meta.init_rule="zoo:NAME"` calls: a rule that
  contains the zoo's rules as special cases), `HasState` (the inner step's time and a
  per-run state: `init_state`, `update_with_state`, `reads_total`) and `ExtendsTheta`
  (`extend_theta`: an older, smaller theta completed at neutral values).

  Attributes:
    kind: the registry name, stored in rule files, checkpoints and configs.
  """

  kind: ClassVar[str]

  def init_theta(self, key: jax.Array) -> Any:
    """Initial meta-parameters: a pytree of float32 arrays whose shapes depend on the rule's
    config only, never on the base network's sizes ({} when there are none)."""
    ...

  def update(
    self, theta: Any, params: base_model.BaseParams, acts: base_model.Activations
  ) -> base_model.BaseParams:
    """One inner step: new W, b, V (same shapes) from the forward pass `acts` on a batch
    ([B, n_l] per layer, L + 1 entries)."""
    ...

  def to_dict(self) -> dict:
    """The config's fields as JSON-able values (what a rule file stores beside `kind`)."""
    ...

  @classmethod
  def from_dict(cls, d: dict) -> Self:
    """The rule back from `to_dict`'s form (what `load_rule` calls)."""
    ...

  def summary(self, theta: Any) -> dict:
    """JSON-able facts about theta for a run's summary.json (e.g. a learned mix)."""
    ...

  def check_theta(self, theta: Any) -> None:
    """Raise a one-line ValueError when theta does not fit this config (e.g. read from a
    file written with another config)."""
    ...


@runtime_checkable
class HasPenalty(Protocol):
  """A rule whose meta-loss carries a penalty on theta (optional capability of `LocalRule`)."""

  def penalty(self, theta: Theta) -> jax.Array:
    """scalar added to the meta-loss (e.g. an L1 norm of a learned mix)."""
    ...


@runtime_checkable
class HasThetaFrom(Protocol):
  """A rule that can start from a hand-designed one (optional capability of `LocalRule`)."""

  def theta_from(self, zoo_rule: Any, key: jax.Array) -> Theta:
    """theta under which this rule takes `zoo_rule`'s step (raise ValueError when it cannot)."""
    ...


@runtime_checkable
class ExtendsTheta(Protocol):
  """A rule whose config can add meta-parameters to an older theta at values that change
  nothing (optional capability of `LocalRule`): a warm start from a rule file of the
  smaller config (`meta.init_rule`) then begins at that rule exactly."""

  def extend_theta(self, theta: Theta) -> Theta:
    """theta with the entries this config adds, at their neutral values, where it lacks
    them (unchanged otherwise)."""
    ...


class StepInfo(flax.struct.PyTreeNode):
  """Where an inner step falls in its task: what a rule that knows the time reads
  (`HasState`). Leaves are int32 scalars (a leading [T] task axis when batched).

  Attributes:
    step: inner steps the task took before this one (0 at its first step).
    total: the task's length in inner steps where the caller knows it (meta-training's
      tasks, `apply_rule(steps=...)`, the evaluation of a rule that `reads_total`); 0 where
      it does not: an anytime run, read at several horizons.
  """

  step: jax.Array
  total: jax.Array


@runtime_checkable
class HasState(Protocol):
  """A rule that knows the time and may keep per-run state (optional capability of
  `LocalRule`): the inner loop passes it a `StepInfo` at every step and carries its state,
  which starts with the task (`init_state`), is reset with it and is checkpointed with it.
  A rule without this capability gets `update(theta, params, acts)` alone, as before.

  Learned optimizers see time the same way: learned_optimization's MLP optimizers take
  tanh(step / tau - 1) features, VeLO the fraction of training done.
  """

  def init_state(self, params: base_model.BaseParams) -> Any:
    """The rule's state at a task's start: a pytree of arrays whose shapes may depend on
    the network's (e.g. a count per unit, [n_{l+1}] per layer), or None for none."""
    ...

  def update_with_state(
    self,
    theta: Any,
    params: base_model.BaseParams,
    acts: base_model.Activations,
    state: Any,
    info: StepInfo,
  ) -> tuple[base_model.BaseParams, Any]:
    """One inner step, as `LocalRule.update`, at the time `info` says, from and to the
    rule's state: returns (new params, new state) of the same shapes."""
    ...

  def reads_total(self) -> bool:
    """Whether the step depends on `StepInfo.total` (e.g. a learning rate that decays to 0
    at the task's end): such a rule is evaluated by one run per horizon, each told its
    length, instead of one run read at every horizon."""
    ...


def init_state(rule: LocalRule, params: base_model.BaseParams) -> Any:
  """A rule's state at a task's start: `rule.init_state(params)` for a rule that
  `HasState`, None (no leaves) for any other.

  Args:
    rule: a registered rule.
    params: the fresh network.

  Returns:
    The state pytree, or None.
  """
  return rule.init_state(params) if isinstance(rule, HasState) else None


def reads_total(rule: LocalRule) -> bool:
  """Whether the rule reads its task's length (`HasState.reads_total`); False for a rule
  without state or time.

  Args:
    rule: a registered rule.

  Returns:
    bool.
  """
  return isinstance(rule, HasState) and bool(rule.reads_total())


def apply_update(
  rule: LocalRule,
  theta: Any,
  params: base_model.BaseParams,
  acts: base_model.Activations,
  state: Any,
  info: StepInfo,
) -> tuple[base_model.BaseParams, Any]:
  """One inner step of any rule: `update_with_state` for a rule that `HasState`, else
  `update` with the state passed through untouched (the same computation as before time
  and state existed, so a time-blind rule's numbers are unchanged).

  Args:
    rule: a registered rule.
    theta: its meta-parameters.
    params: the network.
    acts: the forward pass on a batch ([B, n_l] per layer, L + 1 entries).
    state: the rule's state (`init_state`).
    info: the step's `StepInfo`.

  Returns:
    (new params, new state).
  """
  if isinstance(rule, HasState):
    return rule.update_with_state(theta, params, acts, state, info)
  return rule.update(theta, params, acts), state


class LocalRuleBase:
  """Defaults for a dataclass rule: the dict form of its fields, a summary with nothing in
  it, and a check of theta's shapes against `init_theta`. Subclasses are frozen dataclasses
  defining `update` (and `init_theta` to meta-learn something). There is deliberately no
  default `update`: a rule without one is no `LocalRule`, which `register` makes the type
  checker report (`make lint`) and `check_rule` refuses at run time."""

  kind: ClassVar[str] = ""
  # Every subclass is a dataclass; this says so to the type checker (for dataclasses.fields).
  __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

  def init_theta(self, key: jax.Array) -> Any:
    """No meta-parameters (a hand-designed rule). Override to meta-learn some.

    Args:
      key: PRNG key (unused here).

    Returns:
      {}.
    """
    del key
    return {}

  def to_dict(self) -> dict:
    """The dataclass fields, tuples as lists (JSON).

    Returns:
      dict field -> value.
    """
    return {
      f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
      for f in dataclasses.fields(self)
    }

  @classmethod
  def from_dict(cls, d: dict) -> Self:
    """The rule from `to_dict`'s form.

    Args:
      d: field -> value; lists become tuples.

    Returns:
      The rule config.

    Raises:
      ValueError: an unknown field (the message lists the known ones) or a bad value.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
      raise ValueError(
        f"unknown {cls.kind or cls.__name__} rule config fields "
        f"{sorted(unknown)}; known: {sorted(fields)}"
      )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

  def summary(self, theta) -> dict:
    """Nothing beyond the config (override to report learned quantities).

    Args:
      theta: the rule's meta-parameters.

    Returns:
      {}.
    """
    del theta
    return {}

  def check_theta(self, theta) -> None:
    """A one-line error when theta does not fit this config.

    Args:
      theta: meta-parameters, e.g. read from a rule file.

    Raises:
      ValueError: a missing, extra or differently shaped entry, naming it.
    """
    check_theta_shapes(
      theta, jax.eval_shape(lambda: self.init_theta(jax.random.PRNGKey(0))), self.kind
    )


class LayerwiseRule(LocalRuleBase, abc.ABC):
  """A hand-designed rule that updates every layer's W at once, each from that layer's own
  input alone (`layer_step`); b and V stay as they are: batch norm centres each unit, and V,
  the learned rule's feedback pathway, is read by nothing in the forward pass. Oja's rule
  and the rules of `metaunsup.rules.zoo` are of this form."""

  @abc.abstractmethod
  def layer_step(self, w: jax.Array, x: jax.Array) -> jax.Array:
    """One step of the rule on one layer.

    Args:
      w: [in, out] the layer's weights.
      x: [B, in] the layer's input on a batch (the previous layer's output, or the
        permuted input for the first layer).

    Returns:
      [in, out] the updated weights.
    """

  def update(
    self, theta, params: base_model.BaseParams, acts: base_model.Activations
  ) -> base_model.BaseParams:
    """One step on every layer: `layer_step` on each W with that layer's input.

    Args:
      theta: unused ({}: nothing is meta-learned).
      params: the network, W[l] [n_l, n_{l+1}].
      acts: the forward pass on a batch; acts.xs[l] [B, n_l] is layer l's input (one more
        entry than layers).

    Returns:
      params with every W updated.
    """
    del theta
    chex.assert_equal(len(acts.xs), len(params.W) + 1)
    return params.replace(W=[self.layer_step(w, x) for w, x in zip(params.W, acts.xs)])


# The fix `check_theta_shapes` ends its message with (a rule file's reader, which has the
# config saved with theta, says what to do instead).
THETA_FIX = "load the rule together with the config it was trained with"


def theta_mismatch(theta, expected, owner: str, extra_ok: bool = False) -> str:
  """How theta differs from the shapes `expected`, entry by entry (missing entries first,
  then entries of another shape, then extra ones), as one line.

  Args:
    theta: meta-parameters (a pytree of arrays, e.g. read from a rule file).
    expected: a pytree of ShapeDtypeStruct with the structure theta must have (an
      `init_theta` evaluated with `jax.eval_shape`).
    owner: what needs the shapes, as the phrases name it ("the compact rule's config").
    extra_ok: entries beyond `expected`'s are not differences (the learned rule's check).

  Returns:
    The first three differing entries joined by "; " (and how many more), each as e.g.
    "theta['mix'] is missing (the compact rule's config needs shape (3, 2))", "theta['mix']
    has shape (4, 2), the compact rule's config needs (3, 2)" or "theta['x'] (shape (2,))
    is extra: the compact rule's config has no such entry"; "" when theta fits.
  """
  got = {
    jax.tree_util.keystr(p): tuple(jnp.shape(v))
    for p, v in jax.tree_util.tree_flatten_with_path(theta)[0]
  }
  want = {
    jax.tree_util.keystr(p): tuple(v.shape)
    for p, v in jax.tree_util.tree_flatten_with_path(expected)[0]
  }
  missing, reshaped, extra = [], [], []
  for name in sorted(set(want) - set(got)):
    # An entry that is a group where an array belongs (theta['params'] = {'a': ...}).
    group = any(g.startswith(name + "[") for g in got)
    missing.append(
      f"theta{name} is {'a group of entries, not an array' if group else 'missing'} "
      f"({owner} needs shape {want[name]})"
    )
  for name in sorted(set(want) & set(got)):
    if got[name] != want[name]:
      reshaped.append(f"theta{name} has shape {got[name]}, {owner} needs {want[name]}")
  if not extra_ok:
    for name in sorted(set(got) - set(want)):
      if not any(name.startswith(w + "[") for w in want):  # named as a group above
        extra.append(f"theta{name} (shape {got[name]}) is extra: {owner} has no such entry")
  differ = missing + reshaped + extra
  more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
  return "; ".join(differ[:3]) + more


def check_theta_shapes(theta, expected, kind: str) -> None:
  """theta against the shapes `expected` (an `init_theta` evaluated with `jax.eval_shape`).

  Args:
    theta: meta-parameters.
    expected: a pytree of ShapeDtypeStruct with the structure theta must have.
    kind: the rule's kind, named in the message.

  Raises:
    ValueError: one line naming the entries that are missing, extra or of another shape,
      with both shapes (`theta_mismatch`).
  """
  differ = theta_mismatch(theta, expected, f"the {kind} rule's config")
  if differ:
    raise ValueError(f"{differ}; {THETA_FIX}")


R = TypeVar("R", bound=type[LocalRule])


def register(kind: str) -> Callable[[R], R]:
  """Class decorator: registers a rule class under `kind` (sets `cls.kind`). Typed so that
  the type checker verifies the class is a `LocalRule` (a class without `update`, say, is
  an error of `make lint` at its decorator).

  Args:
    kind: the registry name, e.g. "learned", "oja"; letters, digits and underscores.

  Returns:
    The decorator, which returns the class unchanged apart from `kind`.

  Raises:
    ValueError: `kind` is malformed or already registered to another class.
  """
  RULES.check_name(kind)

  def decorate(cls: R) -> R:
    RULES.add(kind, cls)
    cls.kind = kind
    return cls

  return decorate


def kinds() -> tuple[str, ...]:
  """Every rule kind that can be looked up: the registered ones and those of the entry-point
  group (the package's own and installed packages'), sorted.

  Returns:
    tuple of kind names.
  """
  return tuple(sorted(RULES.names(installed=True)))


def rule_class(kind: str | None) -> type[LocalRule]:
  """The class registered under `kind` (None: `DEFAULT_KIND`).

  Args:
    kind: a registered kind.

  Returns:
    The rule class.

  Raises:
    ValueError: an unknown kind, listing the known ones.
  """
  kind = DEFAULT_KIND if kind is None else kind
  cls = RULES.get(kind)
  if cls is None:
    raise ValueError(
      f"unknown rule kind {kind!r}; registered: {', '.join(kinds())} "
      "(a rule of your own must be imported, and so registered, first, or be declared "
      f"in its package's entry points, group {ENTRY_POINT_GROUP!r})"
    )
  return cls


def to_stored(rule) -> dict:
  """A rule's stored form: `{"kind": its kind, **rule.to_dict()}`, what a rule file's rule
  config and a run config's `rule` section hold.

  Args:
    rule: a registered rule (`check_rule`).

  Returns:
    dict, JSON-able.
  """
  return {"kind": rule.kind, **rule.to_dict()}


def from_dict(d, kind: str | None = None):
  """A rule config from its stored form (a rule file's or config.json's "rule" section).

  Args:
    d: field -> value, as `to_dict` wrote it, optionally with "kind" (`to_stored`); a
      mapping (a ConfigDict's `to_dict()` too).
    kind: the registered kind; None: d's "kind", or `DEFAULT_KIND` (the learned rule of
      files written before kinds existed) when d has none.

  Returns:
    The rule config.

  Raises:
    ValueError: an unknown kind or field, a bad value, or a `kind` that contradicts d's
      (one line).
  """
  d = dict(d)
  stored = d.pop("kind", None)
  if kind is not None and stored is not None and kind != stored:
    raise ValueError(f"rule kind {kind!r} asked for a rule stored as kind {stored!r}")
  return rule_class(kind if kind is not None else stored).from_dict(d)


def check_rule(rule, what: str = "rule") -> None:
  """A one-line error unless `rule` is an instance of a registered rule class.

  Args:
    rule: the object to check.
    what: how the message names it (e.g. "train_rule's rule").

  Raises:
    TypeError: not an instance of a class decorated with `register` (or not hashable,
      which a frozen dataclass is).
  """
  kind = getattr(type(rule), "kind", "")
  if (
    not isinstance(rule, LocalRule)
    or not kind
    or kind not in RULES
    or RULES.get(kind) is not type(rule)
  ):
    raise TypeError(
      f"{what} must be an instance of a registered local rule (a frozen "
      "dataclass decorated with @metaunsup.local_rule.register(KIND), with "
      f"init_theta and update), got {type(rule).__name__}"
    )
  try:
    hash(rule)
  except TypeError:
    raise TypeError(
      f"{what} {type(rule).__name__} is not hashable (it closes over jitted "
      "code): declare it @dataclasses.dataclass(frozen=True)"
    ) from None


def largest(v: jax.Array) -> jax.Array:
  """The largest entry of v, as `jnp.max(v)`, with its gradient on one entry (the first
  largest). `jnp.max`'s gradient divides by the number of entries equal to the result; when
  XLA recomputes v inside the backward pass with other rounding, none may be, and the
  meta-gradient of a rule normalised by its largest entry is 0 / 0 (seen for
  Krotov-Hopfield's step under XLA's optimisation level 0).

  Args:
    v: an array of any shape, at least one entry.

  Returns:
    scalar, bit-identical to jnp.max(v).
  """
  flat = jnp.ravel(v)
  return flat[jnp.argmax(flat)]


def param_count(theta: Theta) -> int:
  """Number of scalar meta-parameters in theta, for any rule kind.

  Args:
    theta: a rule's meta-parameters, a pytree of arrays.

  Returns:
    The total number of entries over all leaves.
  """
  return int(sum(x.size for x in jax.tree_util.tree_leaves(theta)))
