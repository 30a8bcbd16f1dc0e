"""A persistent XLA compilation cache by default, so that a user's second run of a command
(meta-training, an evaluation, `apply_rule` on the same shapes) does not compile again: on a
2-core CPU compiling the default config's meta-step takes 135-152 s, once per truncation
length, on every run without it (issue 39).

The cache lives under the data folder (`$METAUNSUP_DATA/xla_cache`, else
`~/.cache/metaunsup/xla_cache`); `$METAUNSUP_XLA_CACHE` names another folder, or "off"
turns it off. A cache the user already chose (`JAX_COMPILATION_CACHE_DIR`, or
`jax.config.update("jax_compilation_cache_dir", ...)`) is left as it is.
"""

from __future__ import annotations

import os
import pathlib

import jax

from metaunsup.sources._common import data_dir

ENV_VAR = "METAUNSUP_XLA_CACHE"


def default_dir() -> pathlib.Path | None:
  """The folder the cache goes to by default (module docstring), None when turned off.

  Returns:
    The folder (not created here), or None for METAUNSUP_XLA_CACHE=off.
  """
  value = os.environ.get(ENV_VAR, "")
  if value.lower() == "off":
    return None
  return pathlib.Path(value).expanduser() if value else data_dir() / "xla_cache"


def enable() -> str | None:
  """Turn the persistent compilation cache on at `default_dir()`, unless one is already set
  or it is turned off. Called by the command lines and the public API's entry points.

  Returns:
    The cache folder in use (the user's own, if set), or None when there is none.
  """
  current = getattr(jax.config, "jax_compilation_cache_dir")  # not in jax's type stubs
  if current:
    return str(current)
  folder = default_dir()
  if folder is None:
    return None
  jax.config.update("jax_compilation_cache_dir", str(folder))
  return str(folder)
