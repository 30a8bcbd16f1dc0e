"""The configs shipped in the package, named on the command line (`--config=NAME`) or
imported by configs of your own (`from metaunsup.configs import eval_full`):

  python -m metaunsup.train --config=default --workdir=runs/default
  python -m metaunsup.evaluation --rule=pretrained --config=eval_full --out=runs/eval

Meta-training (`TRAIN`): default (`make meta-train`, the setting of the shipped rule; its
fields are documented there), smoke (every stage of meta-training in about a minute),
laptop (a rule learned from scratch in a few minutes, under 2 GB), compact (the compact
rule by PES, warm-started at Krotov-Hopfield), compact_arch
(the same on a family of depths 1-4, widths 64-512 and every activation), learned_zoo
(the learned rule with competition and the zoo's terms, warm-started likewise), conv (the
compact rule on a family of two-conv-layer networks). Evaluation
(`EVALUATION`): eval_full (`make evaluate`: the paper's protocol on
held-out data), eval_cpu (eval_full sized for a
2-core CPU, under an hour), eval_quick (every method, file and figure of eval_full on small
data: a smoke check, not results). `--config` also takes a file, path/to/config.py, whose
`get_config()` returns a ConfigDict; `--config.SECTION.FIELD=VALUE` overrides either.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
from typing import Any

from metaunsup import submodules

TRAIN = ("default", "smoke", "laptop", "compact", "compact_arch", "learned_zoo", "conv")
EVALUATION = ("eval_full", "eval_quick", "eval_cpu")


def path(value: str, names: tuple[str, ...] = TRAIN + EVALUATION) -> str:
  """The config file a `--config` value means.

  Args:
    value: a packaged config's name (one of `names`) or a path to a .py file, either
      optionally followed by ":ARG" (passed to its get_config, as ml_collections does).
    names: the packaged configs this command accepts.

  Returns:
    The packaged config's file for a name; the value itself for a path.

  Raises:
    ValueError: (one line) a value that is neither a path (no "/" and no ".py") nor one
      of `names`; the message lists them.
  """
  base, colon, arg = value.partition(":")
  if "/" in base or base.endswith(".py"):
    return value
  if base not in names:
    other = (
      " (a meta-training config: python -m metaunsup.train, metaunsup.train_rule)"
      if base in TRAIN
      else " (an evaluation config: python -m metaunsup.evaluation, metaunsup.evaluate)"
      if base in EVALUATION
      else ""
    )
    raise ValueError(
      f"unknown config {base!r}{other}; packaged configs: {', '.join(names)}, "
      "or a file such as path/to/config.py"
    )
  return str(pathlib.Path(__file__).with_name(f"{base}.py")) + colon + arg


def load(value: str, names: tuple[str, ...] = TRAIN + EVALUATION) -> Any:
  """The config a `--config` value means, for Python (`train_rule("compact")`,
  `metaunsup.evaluate(config="eval_quick")`): a packaged config by name or a .py file whose
  `get_config()` returns it, optionally followed by ":ARG" (passed to get_config).

  Args:
    value: a name of `names` or a path to a .py file, optionally ":ARG".
    names: the packaged configs the caller accepts.

  Returns:
    The ml_collections.ConfigDict.

  Raises:
    ValueError: (one line) an unknown name (listing the known ones), a file that does not
      exist or has no get_config.
  """
  base, _, arg = value.partition(":")
  file = pathlib.Path(path(base, names))
  if base in names:
    module = importlib.import_module(f"metaunsup.configs.{base}")
  else:
    if not file.is_file():
      raise ValueError(
        f"config file {file} does not exist; pass a packaged config name "
        f"({', '.join(names)}) or a path/to/config.py"
      )
    spec = importlib.util.spec_from_file_location(f"_metaunsup_config_{file.stem}", file)
    assert spec is not None and spec.loader is not None  # a .py file that exists
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  if not callable(getattr(module, "get_config", None)):
    raise ValueError(f"config file {file} has no get_config(); it must return a ConfigDict")
  return module.get_config(arg) if arg else module.get_config()


__getattr__ = submodules.loader(__name__)
