"""Paths and errors shared by the data sources."""

from __future__ import annotations

import os
import pathlib

from metaunsup import file_faults

ENV_VAR = "METAUNSUP_DATA"


class DataNotFoundError(FileNotFoundError):
  """A data set is neither prepared nor available as local raw files (message: one line)."""


class CorruptDataError(file_faults.DamagedFileError):
  """A raw or prepared file exists but cannot be read (message: one line, naming the file
  and the fix)."""


def data_dir() -> pathlib.Path:
  """`$METAUNSUP_DATA`, or `~/.cache/metaunsup` when unset."""
  env = os.environ.get(ENV_VAR)
  return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "metaunsup"


def raw_dir() -> pathlib.Path:
  """`<data_dir>/raw`: the fetched raw files (`make data`)."""
  return data_dir() / "raw"


def tfds_dir() -> pathlib.Path:
  """`<data_dir>/tfds`: the prepared TFDS data sets."""
  return data_dir() / "tfds"


# The data command for pip users and, in a checkout, its make target.
SETUP = "`python -m metaunsup.sources.setup` (`make data` in a checkout)"


def corrupt(path, err, fix: str = f"delete it and rerun {SETUP}") -> CorruptDataError:
  """A one-line `CorruptDataError` for `path` (what reading it raised, then `fix`).

  Args:
    path: the file(s), as shown in the message.
    err: what reading it raised.
    fix: what the user should do.

  Returns:
    The error, for the caller to raise.
  """
  return CorruptDataError(str(file_faults.damaged(path, err, fix)))


def missing(name: str, what: str) -> DataNotFoundError:
  """A one-line error for missing raw files.

  Args:
    name: the data set's name.
    what: which raw files are missing (shown in the message).

  Returns:
    DataNotFoundError telling the user to run `make data` (not raised here).
  """
  return DataNotFoundError(
    f"{name}: raw files not found ({what}); run {SETUP} to fetch and prepare them into {data_dir()}"
  )
