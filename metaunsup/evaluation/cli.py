"""The evaluation's command line (`make evaluate`; run it as `python -m metaunsup.evaluation`):

  python -m metaunsup.evaluation --rule=pretrained --config=eval_quick --out=runs/eval_quick

`--config` is a packaged config (`metaunsup.configs.EVALUATION`; default eval_full, as
`make evaluate`) or a file path/to/config.py.

Errors a user can fix (a missing rule or data set, a bad config value, a full disk) end
the process with one line, `error: ...`, never a traceback.
"""

from __future__ import annotations

import sys

from absl import flags, logging
from ml_collections import config_flags

from metaunsup import compile_cache, configs, data, file_faults
from metaunsup.evaluation import pipeline

CONFIG = config_flags.DEFINE_config_file(
  "config",
  configs.path("eval_full"),
  f"Evaluation config: a packaged one ({', '.join(configs.EVALUATION)}) or a file "
  "path/to/config.py; --config.FIELD=VALUE overrides a field.",
)
RULE = flags.DEFINE_string(
  "rule",
  "pretrained",
  "A rule file, a meta-training workdir, or 'pretrained' (the rule shipped in the package).",
)
OUT = flags.DEFINE_string("out", "runs/eval", "Where results.json, results.md and figures go.")
REVERSE = flags.DEFINE_bool(
  "reverse",
  False,
  "Compute the pieces last first: a second "
  "process started with it on the same --out shares the work with "
  "the first.",
)


def main(argv) -> None:
  """absl's main: runs `pipeline.run` with the flags' values.

  Args:
    argv: the command line left after flag parsing (unused).

  Raises:
    SystemExit: with one line, `error: ...`, for a missing rule or data set, a bad config
      value or a failed write.
  """
  del argv
  logging.set_verbosity(logging.WARNING)
  compile_cache.enable()  # a rerun does not compile again
  try:
    pipeline.run(RULE.value, CONFIG.value, OUT.value, reverse=REVERSE.value)
  except (ValueError, FileNotFoundError, data.DataNotFoundError, file_faults.WriteFailedError) as e:
    sys.exit(f"error: {e}")
