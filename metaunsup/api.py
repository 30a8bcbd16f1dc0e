"""The public API (re-exported by `metaunsup`): meta-train a rule, load a learned one, train
a base network with it, read features. Nothing in the core imports this module.

  train_rule(config=None, workdir=None, *, rule=None, **overrides) -> TrainResult
  evaluate(rule="pretrained", config="eval_full", out=None, **overrides) -> dict
  load_rule(path) -> Rule              (path "pretrained": the rule shipped in the package)
  pretrained_rule(name=DEFAULT) -> Rule
  apply_rule(rule, x_unlabeled, *, widths, steps, batch_size, seed, standardize) -> TrainedModel
  fewshot_accuracy(support_x, support_y, query_x, query_y, head="ridge") -> float  (heads.py)
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile

from metaunsup import compile_cache, pretrained
from metaunsup.heads import fewshot_accuracy
from metaunsup.rule_files import Rule, read_rule
from metaunsup.trained_model import TrainedModel, apply_rule

# The public API compiles through XLA's persistent cache unless the user chose otherwise
# (`compile_cache`): a second run of the same call does not compile again.
compile_cache.enable()

__all__ = [
  "train_rule",
  "evaluate",
  "TrainResult",
  "load_rule",
  "pretrained_rule",
  "apply_rule",
  "Rule",
  "TrainedModel",
  "fewshot_accuracy",
]


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """What `train_rule` returns.

  Attributes:
    rule: the learned Rule (also in WORKDIR/rule.msgpack).
    history: one dict per meta-step, as in WORKDIR/metrics.jsonl.
    workdir: the run's folder (checkpoints, metrics, summary.json).
  """

  rule: Rule
  history: list  # one dict per meta-step, as in WORKDIR/metrics.jsonl
  workdir: pathlib.Path

  @property
  def summary(self) -> dict:
    """WORKDIR/summary.json (`training.workdir.read_summary`).

    Returns:
      The summary dict, NaN where a loss or accuracy was not finite.

    Raises:
      FileNotFoundError, DamagedFileError: summary.json is missing or does not parse.
    """
    from metaunsup.training import workdir

    return workdir.read_summary(self.workdir)


def train_rule(config=None, workdir=None, *, rule=None, **overrides) -> TrainResult:
  """Meta-train a rule (Metz et al., ICLR 2019; `metaunsup.train`). Re-running with the same
  workdir resumes the run.

  Args:
    config: an ml_collections.ConfigDict, or the name of a packaged meta-training config
      ("default", "smoke", "compact", ...: `metaunsup.configs.TRAIN`) or a path to a config
      file, as `--config` takes them (default: "default").
    workdir: the run's folder (default: a new temporary one).
    rule: the rule to meta-train, an instance of any registered `metaunsup.local_rule`
      class with meta-parameters (default: the one `config.rule` names, the learned rule).
      It becomes config.rule (`{"kind": ..., **its fields}`), which config.json records;
      dotted overrides (`**{"rule.lr": 0.1}`) then apply to it. A dict instead overrides
      fields of config.rule, as for any other section (rule={"channels": 8}).
    **overrides: config sections as dicts (meta={"steps": 50}) or dotted names
      (`**{"meta.steps": 50}`).

  Returns:
    TrainResult with the rule, the per-step history and the workdir.

  Raises:
    ValueError: an unknown config name (the message lists the packaged ones), an override
      names an unknown field or has the wrong type, or the config fails validation
      (`training.config_checks`), or the workdir holds another run, or
      the rule has nothing to meta-train (no meta-parameters) or an unknown kind.
    TypeError: `rule` is not an instance of a registered rule class.
    FileNotFoundError: a data set of the config is not prepared.
    WorkdirInUseError: another run is in progress in the workdir
      (`metaunsup.training.workdir_lock`).
  """
  from metaunsup import configs, train
  from metaunsup.configs import default as default_config
  from metaunsup.training import setup

  if config is None:
    config = default_config.get_config()
  elif isinstance(config, str):
    config = configs.load(config, configs.TRAIN)
  config = config.copy_and_resolve_references()
  if isinstance(rule, dict):  # a section override, as rule= was before rules were objects
    overrides = {"rule": rule, **overrides}
  elif rule is not None:
    config = setup.with_rule(config, rule)
  for name, value in overrides.items():
    if isinstance(value, dict):
      for field, v in value.items():
        _set(config, f"{name}.{field}", v)
    else:
      _set(config, name, value)
  workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="metaunsup-"))
  learned, history, workdir = train.train_and_evaluate(config, workdir)
  return TrainResult(rule=learned, history=history, workdir=workdir)


def evaluate(rule="pretrained", config="eval_full", out=None, **overrides) -> dict:
  """Evaluate a rule on held-out data against the baselines (`python -m
  metaunsup.evaluation`, `make evaluate`; the paper's protocol, Metz et al., ICLR 2019,
  Sec. 5). Re-running with the same `out` reuses the pieces already computed.

  Args:
    rule: a rule file, a meta-training workdir, "pretrained" or "pretrained:NAME".
    config: an ml_collections.ConfigDict, or the name of a packaged evaluation config
      ("eval_full", "eval_cpu", "eval_quick": `metaunsup.configs.EVALUATION`) or a path to
      a config file.
    out: the output folder for results.json, results.md and figures (default: a new
      temporary one).
    **overrides: config fields, plain or dotted (num_seeds=3, `**{"sweeps.widths": (32,)}`).

  Returns:
    The results dict, also in OUT/results.json (`evaluation.pipeline.run`).

  Raises:
    ValueError: an unknown config name (listing the packaged ones), an override naming an
      unknown field or of the wrong type, a bad config value or rule file.
    FileNotFoundError: no rule at `rule`.
    data.DataNotFoundError: a data set of the config is not prepared.
  """
  from metaunsup import configs
  from metaunsup.evaluation import pipeline

  if isinstance(config, str):
    config = configs.load(config, configs.EVALUATION)
  config = config.copy_and_resolve_references()
  for name, value in overrides.items():
    _set(config, name, value, "metaunsup/configs/eval_full.py")
  out = pathlib.Path(out or tempfile.mkdtemp(prefix="metaunsup-eval-"))
  return pipeline.run(rule, config, out)


def _set(config, dotted: str, value, see: str = "metaunsup/configs/default.py") -> None:
  *parents, leaf = dotted.split(".")
  node = config
  for p in parents:
    if p not in node:
      raise ValueError(f"unknown config section {p!r} in override {dotted!r}")
    node = node[p]
  if leaf not in node:
    raise ValueError(f"unknown config field {dotted!r}; see {see}")
  try:
    node[leaf] = value
  except TypeError:
    raise ValueError(
      f"config.{dotted} is a {type(node[leaf]).__name__}, got "
      f"{type(value).__name__} {value!r}; see {see}"
    ) from None


def load_rule(path) -> Rule:
  """A rule from a meta-training workdir (its rule.msgpack, or the newest checkpoint of a
  run that has not finished), a rule file, or a rule shipped in the package: "pretrained"
  (the default one) or "pretrained:NAME" (see `metaunsup.pretrained`). To load a local
  folder called "pretrained", write "./pretrained".

  Args:
    path: a str or os.PathLike as above.

  Returns:
    The Rule (theta checked against its rule config).

  Raises:
    TypeError: `path` is not a path.
    FileNotFoundError: nothing loadable there.
    DamagedFileError: it does not read back and there is no checkpoint to fall back on.
    ValueError: theta does not match the rule config saved with it.
  """
  return read_rule(path)


def pretrained_rule(name: str = pretrained.DEFAULT) -> Rule:
  """A rule shipped inside the package; `metaunsup.pretrained.provenance(name)` says how it
  was trained and how it evaluates.

  Args:
    name: one of `metaunsup.pretrained.names()`.

  Returns:
    The Rule.

  Raises:
    FileNotFoundError: an unknown name (the message lists the shipped ones).
  """
  return read_rule(pretrained.path(name))
