"""One-line errors for files that cannot be read back or written: every reader of a file the
project wrote (prepared data, checkpoints, rule files, evaluation pieces, config.json,
metrics.jsonl) and every writer raises these, so a damaged file or a full disk always reads
the same way: the file, what went wrong, and the fix."""

from __future__ import annotations

import errno


class DamagedFileError(ValueError):
  """A file exists but cannot be read back (truncated, corrupted, half-written)."""


class WriteFailedError(OSError):
  """A file could not be written (typically: no space left on device)."""


def _detail(err: BaseException) -> str:
  return f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"


def damaged(path, err: BaseException, fix: str) -> DamagedFileError:
  """`path: damaged or truncated (<cause>); <fix>` as one line.

  Args:
    path: the file.
    err: what reading it raised.
    fix: what the user should do.

  Returns:
    The `DamagedFileError`, for the caller to raise.
  """
  return DamagedFileError(f"{path}: damaged or truncated ({_detail(err)}); {fix}")


def write_failed(path, err: OSError, keeps: str) -> WriteFailedError:
  """`cannot write path (<cause>); <keeps>` as one line; names a full disk as such.

  Args:
    path: the file or folder.
    err: what writing it raised (its errno is kept).
    keeps: what is still intact and what to do.

  Returns:
    The `WriteFailedError`, for the caller to raise.
  """
  what = "no space left on device" if getattr(err, "errno", None) == errno.ENOSPC else _detail(err)
  out = WriteFailedError(f"cannot write {path} ({what}); {keeps}")
  out.errno = getattr(err, "errno", None)
  return out
