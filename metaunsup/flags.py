"""Command-line flags of the CLIs (`python -m metaunsup.train`, the evaluation CLI): absl
parsing of ml_collections config flags with one-line errors."""
from __future__ import annotations

import ast
import sys


def parse_flags(argv):
  """absl's flag parser for the CLIs, with one line instead of a traceback for what
  ml_collections' config flags raise outside absl's own errors: a config file that does not
  exist or fails to import, an override of a field the config does not have.

  Args:
    argv: the command line (sys.argv), as absl's `app.run(flags_parser=...)` passes it.

  Returns:
    The arguments left after parsing the flags (absl's `parse_flags_with_usage`).

  Raises:
    SystemExit: "error: cannot build the config (...)" when the config cannot be built;
      absl's own usage errors exit as absl does.
  """
  from absl import app, flags
  try:
    out = app.parse_flags_with_usage(argv)
    flags.FLAGS.config.keys()  # a config file that failed to load raises only when read
    return out
  except (AttributeError, KeyError, OSError, ImportError, SyntaxError, TypeError) as e:
    detail = (e.args[0] if e.args and isinstance(e.args[0], str)
              and not isinstance(e, SyntaxError) else str(e))
    if detail[:1] in ("'", '"') and detail[-1:] == detail[:1]:  # ml_collections quotes it
      try:
        detail = str(ast.literal_eval(detail))
      except (ValueError, SyntaxError):
        pass
    sys.exit(f"error: cannot build the config ({' '.join(detail.split())}); check --config (a file such as experiments/configs/default.py) "
             "and the --config.SECTION.FIELD overrides against it")
