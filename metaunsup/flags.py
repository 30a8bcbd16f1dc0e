"""Command-line flags of the CLIs (`python -m metaunsup.train`, the evaluation CLI): absl
parsing of ml_collections config flags, `--config=NAME` for a packaged config
(`metaunsup.configs`), and one-line errors."""

from __future__ import annotations

import ast
import re
import sys

from metaunsup import configs


def parse_flags(argv, config_names: tuple[str, ...]):
  """absl's flag parser for the CLIs: `--config` takes a packaged config's name (one of
  `config_names`) or a file; one line instead of a traceback for what ml_collections' config
  flags raise outside absl's own errors (a config file that does not exist or fails to
  import, an override of a field the config does not have); stray positional arguments
  are refused, so that a mistyped flag never starts a run with the defaults.

  Args:
    argv: the command line (sys.argv), as absl's `app.run(flags_parser=...)` passes it.
    config_names: the packaged configs this command accepts by name
      (`metaunsup.configs.TRAIN` or `EVALUATION`).

  Returns:
    The arguments left after parsing the flags: the program name alone.

  Raises:
    SystemExit: "error: ..." for an unknown config name (listing the packaged ones), a
      config that cannot be built, or a positional argument; absl's own usage errors exit
      as absl does.
  """
  from absl import app, flags

  try:
    argv = _config_files(argv, config_names)
  except ValueError as e:
    sys.exit(f"error: {e}")
  try:
    out = app.parse_flags_with_usage(argv)
    flags.FLAGS.config.keys()  # a config file that failed to load raises only when read
  except (AttributeError, KeyError, OSError, ImportError, SyntaxError, TypeError) as e:
    detail = (
      e.args[0]
      if e.args and isinstance(e.args[0], str) and not isinstance(e, SyntaxError)
      else str(e)
    )
    if detail[:1] in ("'", '"') and detail[-1:] == detail[:1]:  # ml_collections quotes it
      try:
        detail = str(ast.literal_eval(detail))
      except (ValueError, SyntaxError):
        pass
    sys.exit(
      f"error: cannot build the config ({' '.join(detail.split())}); check --config "
      f"(a packaged config, {', '.join(config_names)}, or a file path/to/config.py) "
      "and the --config.SECTION.FIELD overrides against it"
    )
  if len(out) > 1:
    sys.exit(
      f"error: unexpected argument(s) {' '.join(out[1:])}; this command takes only "
      "flags, --name=value (see --help)"
    )
  return out


def _config_files(argv, names: tuple[str, ...]) -> list[str]:
  """argv with the value of --config (`--config=V` or `--config V`) made a file path:
  `configs.path`. ml_collections reads the overrides from sys.argv, whose positions this
  keeps."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg == "--":
      break
    joined = re.fullmatch(r"(--?config=)(.*)", arg)
    if joined:
      out[i] = joined[1] + configs.path(joined[2], names)
    elif arg in ("--config", "-config") and i + 1 < len(out):
      out[i + 1] = configs.path(out[i + 1], names)
  return out
