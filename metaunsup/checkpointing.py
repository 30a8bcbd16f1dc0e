"""Saving and resuming: full meta-training state through orbax (atomic, by step), and a
small self-describing rule file (theta + rule config) written atomically."""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import sys
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from metaunsup import file_faults

# How an error names the fix "run the meta-training again": the command line (python -m or
# make, in a checkout) or the Python call, whichever wrote the workdir.
RERUN = (
  "rerun the meta-training that wrote it on the same workdir (the same `python -m "
  "metaunsup.train` or `make meta-train` command, or `metaunsup.train_rule` call)"
)

RULE_FILE = "rule.msgpack"


def manager(workdir: str | os.PathLike, max_to_keep: int = 2) -> ocp.CheckpointManager:
  # Synchronous saves: a meta-step is short and a half-written checkpoint must never be the
  # latest one (orbax writes to a temporary folder and renames it when complete).
  """The orbax checkpoint manager of a workdir (`WORKDIR/checkpoints`, synchronous saves).

  Args:
    workdir: the run's folder (created if missing).
    max_to_keep: newest checkpoints kept.

  Returns:
    `orbax.checkpoint.CheckpointManager`.
  """
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
  )
  return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / "checkpoints", options=options)


def save_state(mgr: ocp.CheckpointManager, step: int, state) -> None:
  """Save `state` as checkpoint `step`, synchronously.

  Raises WriteFailedError (one line) when the disk is full; orbax writes into a temporary
  folder first, so the previous checkpoint stays the latest and intact.

  Args:
    mgr: from `manager`.
    step: the meta-step the state is after.
    state: a pytree of arrays (theta, optimiser state, task states, PRNG key, ...).

  Raises:
    WriteFailedError: the write failed (e.g. no space left); names the intact checkpoint.
  """
  try:
    mgr.save(step, args=ocp.args.StandardSave(state), force=True)
    mgr.wait_until_finished()
  except OSError as e:
    previous = [s for s in mgr.all_steps() if s < step]
    keeps = (
      f"the checkpoint of step {max(previous)} is intact: free space and rerun the "
      "same command to resume from it"
      if previous
      else "no earlier checkpoint"
    )
    raise file_faults.write_failed(pathlib.Path(mgr.directory) / str(step), e, keeps) from None


def restore_latest(mgr: ocp.CheckpointManager, like, partial: bool = False):
  """(step, state) of the newest checkpoint that reads back, or (None, None) when there is
  none. Newer ones that do not (a disk fault) are moved aside to `checkpoints.damaged/`,
  kept, with a warning. With `partial`, `like` may name only some top-level entries (e.g.
  just theta). Raises DamagedFileError (one line) when none reads back; then nothing moves.

  Args:
    mgr: from `manager`.
    like: a pytree with the saved structure, shapes and dtypes (values unused).
    partial: restore only the top-level entries `like` names.

  Returns:
    (step, state) or (None, None).

  Raises:
    DamagedFileError: checkpoints exist but none reads back.
  """
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
  failed = []
  for step in sorted(mgr.all_steps(), reverse=True):
    if partial:
      args = ocp.args.PyTreeRestore(
        abstract,
        partial_restore=True,
        restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
      )
    else:
      args = ocp.args.StandardRestore(abstract)
    try:
      restored = mgr.restore(step, args=args)
    except Exception as e:  # noqa: BLE001 - any failure to read it back means "damaged"
      failed.append((pathlib.Path(mgr.directory) / str(step), e))
      continue
    for folder, error in failed:
      aside = folder.parent.with_name("checkpoints.damaged") / folder.name
      print(
        f"warning: {file_faults.damaged(folder, error, f'moved to {aside}')}; resuming from "
        f"the checkpoint of step {step}",
        file=sys.stderr,
      )
      aside.parent.mkdir(exist_ok=True)
      shutil.rmtree(aside, ignore_errors=True)
      folder.rename(aside)
    if failed:
      mgr.reload()
    return step, restored
  if failed:
    raise file_faults.damaged(
      *failed[0],
      "no checkpoint reads back (or another version of "
      "metaunsup wrote them); pass a new --workdir, or delete "
      f"{failed[0][0].parent} to start over",
    )
  return None, None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Write to a temporary sibling, then rename: a reader (or a kill -9) sees the old file or
  the new one, never half of one, with the permissions of any new file (the umask's).
  Raises WriteFailedError (one line) on a full disk.

  Args:
    path: the file; parent folders are created.
    data: its new content.

  Raises:
    WriteFailedError: the write failed; says whether the previous version is intact.
  """
  path = pathlib.Path(path)
  tmp = None
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    # mkstemp makes the file 0600; give it the mode open() would, so collaborators can read
    # results, rules and metrics as any other file (os.umask only reads by setting).
    umask = os.umask(0o022)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    keeps = "its previous version is intact" if path.exists() else "nothing was written"
    raise file_faults.write_failed(path, e, keeps + "; free space and rerun") from None
  finally:
    if tmp is not None and os.path.exists(tmp):
      os.unlink(tmp)


def strict_json(obj):
  """`obj` as strict JSON can hold it: every NaN or inf float (numpy scalars and arrays
  included) becomes None, written `null`, as JavaScript's JSON.stringify, simplejson's
  ignore_nan and pandas write it. `nan_for_null` turns it back into NaN.

  Args:
    obj: nested dicts, lists, tuples, numpy arrays and scalars.

  Returns:
    The same structure with lists for arrays and tuples, Python scalars, None for
    non-finite floats.
  """
  if isinstance(obj, dict):
    return {k: strict_json(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [strict_json(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return strict_json(obj.tolist())
  if isinstance(obj, np.generic):
    obj = obj.item()
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


def dumps(obj, **kwargs) -> str:
  """json.dumps of `strict_json(obj)`: never a bare NaN or Infinity, which strict readers
  (jq, JavaScript, Go, Rust's serde) reject. Every JSON file the project writes goes through
  here.

  Args:
    obj: see `strict_json`.
    **kwargs: passed to `json.dumps` (e.g. indent).

  Returns:
    The JSON text.
  """
  return json.dumps(strict_json(obj), allow_nan=False, **kwargs)


def nan_for_null(obj, keep: tuple = ("config",)):
  """What `dumps` wrote, read back: every null becomes NaN, except under the keys in `keep`
  (configs, where null is a setting's None, e.g. eval's report_step).

  Args:
    obj: parsed JSON.
    keep: dict keys whose values are left as they are.

  Returns:
    The same structure with NaN for None.
  """
  if obj is None:
    return float("nan")
  if isinstance(obj, dict):
    return {k: (v if k in keep else nan_for_null(v, keep)) for k, v in obj.items()}
  if isinstance(obj, list):
    return [nan_for_null(v, keep) for v in obj]
  return obj


def read_json(path, fix: str, keep: tuple | None = ("config",)):
  """A JSON file the project wrote, nulls back to NaN (`nan_for_null`; keep=None: a config
  file, nulls stay None). Raises FileNotFoundError when it is missing and DamagedFileError
  (one line: the file, the cause, `fix`) when it does not parse.

  Args:
    path: the file.
    fix: what the user should do, appended to the error.
    keep: see `nan_for_null`; None leaves nulls as None.

  Returns:
    The parsed object.

  Raises:
    FileNotFoundError: the file is missing.
    DamagedFileError: it cannot be read or parsed.
  """
  path = pathlib.Path(path)
  try:
    text = path.read_bytes().decode("utf-8")
  except FileNotFoundError:
    raise FileNotFoundError(f"{path} does not exist; {fix}") from None
  except (OSError, UnicodeDecodeError) as e:
    raise file_faults.damaged(path, e, fix) from None
  try:
    obj = json.loads(text)
  except ValueError as e:
    raise file_faults.damaged(path, e, fix) from None
  return obj if keep is None else nan_for_null(obj, keep)


def atomic_write_json(path, obj) -> None:
  """Strict JSON (`dumps`, indented, sorted keys), written atomically.

  Args:
    path: the file.
    obj: JSON-able data; NaN and inf become null.

  Raises:
    WriteFailedError: as `atomic_write_bytes`.
  """
  atomic_write_bytes(path, (dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_rule_file(path, theta: dict, rule_config: dict, meta: dict | None = None) -> None:
  """Write a rule file (msgpack: theta, rule config, meta) atomically.

  Raises ValueError, writing nothing, when theta holds a NaN or inf.

  Args:
    path: e.g. `WORKDIR/rule.msgpack`.
    theta: the rule's meta-parameters (a pytree of arrays; {} for a rule without any).
    rule_config: the rule's stored form, JSON-able: {"kind": ..., **fields}
      (`local_rule.to_stored`; files from before kinds have no "kind": the learned rule).
    meta: optional JSON-able provenance (seed, step, ...).

  Raises:
    ValueError: theta holds NaN or inf.
    WriteFailedError: as `atomic_write_bytes`.
  """
  if not all(np.all(np.isfinite(np.asarray(l))) for l in jax.tree_util.tree_leaves(theta)):
    raise ValueError(f"refusing to write {path}: theta holds NaN or inf")
  payload = {
    "theta": jax.tree_util.tree_map(np.asarray, theta),
    "rule_config": json.dumps(rule_config),
    "meta": json.dumps(meta or {}),
  }
  atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def load_rule_file(path) -> tuple[dict, dict, dict]:
  """Read a rule file written by `save_rule_file`.

  Args:
    path: the file.

  Returns:
    (theta as a dict of numpy arrays, rule config dict as written (with its "kind", none
    in files from before kinds: `local_rule.from_dict` reads both), meta dict).

  Raises:
    DamagedFileError: the file is missing, truncated or not a rule file (one line, with
      the fix).
  """
  try:
    payload = serialization.msgpack_restore(pathlib.Path(path).read_bytes())
    return (payload["theta"], json.loads(payload["rule_config"]), json.loads(payload["meta"]))
  except Exception as e:  # any decoding failure means the same thing to the user
    raise file_faults.damaged(
      path,
      e,
      f"not a metaunsup rule file that reads back; {RERUN} (it rewrites the file from "
      "the run's last checkpoint)",
    ) from None
