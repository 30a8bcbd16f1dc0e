"""The configs shipped in the package, named on the command line (`--config=NAME`) or
imported by configs of your own (`from metaunsup.configs import eval_full`):

  python -m metaunsup.train --config=default --workdir=runs/default
  python -m metaunsup.evaluation --rule=pretrained --config=eval_full --out=runs/eval

Meta-training (`TRAIN`): default (`make meta-train`, the setting of the shipped rule; its
fields are metaunsup/default_config.py's), smoke (every stage of meta-training in about a
minute), compact (the compact rule by PES, warm-started at Krotov-Hopfield), compact_arch
(the same on a family of depths 1-4, widths 64-512 and every activation), learned_zoo
(the learned rule with competition and the zoo's terms, warm-started likewise). Evaluation
(`EVALUATION`): eval_full (`make evaluate`: the paper's protocol on
held-out data, metaunsup/evaluation/default_config.py), eval_cpu (eval_full sized for a
2-core CPU, under an hour), eval_quick (every method, file and figure of eval_full on small
data: a smoke check, not results). `--config` also takes a file, path/to/config.py, whose
`get_config()` returns a ConfigDict; `--config.SECTION.FIELD=VALUE` overrides either.
"""

from __future__ import annotations

import pathlib

TRAIN = ("default", "smoke", "compact", "compact_arch", "learned_zoo")
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
      " (a meta-training config: python -m metaunsup.train)"
      if base in TRAIN
      else " (an evaluation config: python -m metaunsup.evaluation)"
      if base in EVALUATION
      else ""
    )
    raise ValueError(
      f"unknown config {base!r}{other}; packaged configs: {', '.join(names)}, "
      "or a file such as path/to/config.py"
    )
  return str(pathlib.Path(__file__).with_name(f"{base}.py")) + colon + arg
