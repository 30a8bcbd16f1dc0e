"""One run per workdir: an OS file lock on WORKDIR/.lock, taken before a run's first write
and held until it ends, so that two meta-trainings started on one folder cannot interleave
their metrics and checkpoints. A second run refuses at once, naming the first (its pid and
host, written into the lock file). The OS drops the lock of a process that dies, kill -9
included, so a crashed run never blocks the next one; a run that ends removes the file.

  with claim(workdir):      # creates the folder; WorkdirInUseError if a run holds it
    ...                     # a run that raises in here leaves a folder it created removed

Standard library only (it is imported by quick subprocesses too). POSIX `fcntl.flock`; on
NFS, Linux maps it to byte-range locks, which the server shares between clients. Without
fcntl (Windows) runs are not locked, as before the lock existed.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import socket
import sys
import time
from collections.abc import Iterator

from metaunsup import file_faults

try:
  import fcntl
except ImportError:  # not POSIX: no lock (see the module docstring)
  fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


class WorkdirInUseError(RuntimeError):
  """Another process holds the workdir's lock: a run is in progress there."""


def _holder(path: pathlib.Path) -> str:
  """Who holds the lock at `path`, as it wrote itself there ("pid N on HOST since T")."""
  text = ""
  for _ in range(50):  # the holder writes its name just after locking: wait up to 0.5 s
    try:
      text = path.read_text().strip()
    except OSError:
      text = ""
    if text:
      break
    time.sleep(0.01)
  try:
    h = json.loads(text)
    return f"pid {h['pid']} on {h['host']} since {h['since']}"
  except (ValueError, KeyError, TypeError):
    return f"a process that did not write its pid there ({text[:80]!r})"


def acquire(workdir) -> int | None:
  """Lock `workdir` (an existing folder) for this process, without waiting.

  Args:
    workdir: the run's folder.

  Returns:
    The lock's file descriptor, for `release`; None where nothing can be locked (no fcntl,
    or a file system without locks, with a warning).

  Raises:
    WorkdirInUseError: another process holds the lock (one line naming it and the fix).
    WriteFailedError: the lock file cannot be created (a read-only folder, a full disk).
  """
  if fcntl is None:
    return None
  path = pathlib.Path(workdir) / LOCK_FILE
  while True:
    try:
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except FileNotFoundError:  # a refused run removed the folder it had made: make it again
      _make_dirs(path.parent)
      continue
    except OSError as e:
      raise file_faults.write_failed(
        path, e, "nothing was written; pass a --workdir you can write to"
      ) from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      holder = _holder(path)
      raise WorkdirInUseError(
        f"{workdir} is in use by another run ({holder}); wait for it to end, or stop it, "
        "then rerun this command to resume there; to run both at once, pass this one a "
        "new --workdir"
      ) from None
    except OSError as e:  # e.g. ENOLCK: a file system without locks
      os.close(fd)
      print(
        f"warning: cannot lock {path} ({e}); running without a lock: start no second run "
        "on this workdir",
        file=sys.stderr,
      )
      return None
    # The holder may have ended between our open and our lock, removing the file: then we
    # hold a lock on a file nobody else sees, and try again on the path's current one.
    try:
      if os.path.samestat(os.fstat(fd), os.stat(path)):
        break
    except FileNotFoundError:
      pass
    os.close(fd)
  since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
  me = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
  with contextlib.suppress(OSError):  # only the refusal's message reads it
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(me) + "\n").encode())
  return fd


def release(workdir, fd: int | None) -> None:
  """Unlock `workdir` and remove its lock file (removed while still locked, so that the
  next run locks a new file: `acquire` checks that the file it locked is the path's).

  Args:
    workdir: the run's folder.
    fd: what `acquire` returned (None: nothing to release).
  """
  if fd is None:
    return
  with contextlib.suppress(OSError):
    (pathlib.Path(workdir) / LOCK_FILE).unlink()
  os.close(fd)


def _make_dirs(workdir: pathlib.Path) -> list[pathlib.Path]:
  """Create `workdir` and its missing parents; the folders this call created, outermost
  first."""
  missing = []
  p = workdir
  while not p.exists() and p.parent != p:
    missing.append(p)
    p = p.parent
  created: list[pathlib.Path] = []
  for folder in reversed(missing):
    try:
      folder.mkdir()
      created.append(folder)
    except FileExistsError:  # another process made it meanwhile
      pass
    except OSError as e:
      _remove_empty(created)
      raise file_faults.write_failed(
        folder, e, "nothing was written; pass a --workdir you can write to"
      ) from None
  return created


def _remove_empty(created: list[pathlib.Path]) -> None:
  for folder in reversed(created):
    try:
      folder.rmdir()
    except OSError:  # not empty: someone wrote there, keep it (and its parents)
      return


@contextlib.contextmanager
def claim(workdir, lock: bool = True) -> Iterator[pathlib.Path]:
  """The run's folder, created if missing and locked for the body (`acquire`). When the
  body raises (a refused or failed run), the folders this call created are removed again
  if they are empty, so a refused run leaves no trace; the lock is released either way.

  Args:
    workdir: the run's folder (not a file).
    lock: take the lock (False: only create the folder, e.g. on a process that writes
      nothing).

  Yields:
    The folder, as a pathlib.Path.

  Raises:
    WorkdirInUseError: another process holds the folder.
    WriteFailedError: the folder or its lock file cannot be created.
  """
  workdir = pathlib.Path(workdir)
  created = _make_dirs(workdir)
  fd = None
  try:
    fd = acquire(workdir) if lock else None
    yield workdir
  except BaseException:
    release(workdir, fd)
    _remove_empty(created)
    raise
  release(workdir, fd)
