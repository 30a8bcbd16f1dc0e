"""Saving and resuming: full meta-training state through orbax (atomic, by step), and a
small self-describing rule file (theta + rule config) written atomically."""
from __future__ import annotations

import json
import os
import pathlib
import tempfile

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

RULE_FILE = "rule.msgpack"


def manager(workdir: str | os.PathLike, max_to_keep: int = 2) -> ocp.CheckpointManager:
  # Synchronous saves: a meta-step is short and a half-written checkpoint must never be the
  # latest one (orbax writes to a temporary folder and renames it when complete).
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / "checkpoints",
                               options=options)


def save_state(mgr: ocp.CheckpointManager, step: int, state) -> None:
  mgr.save(step, args=ocp.args.StandardSave(state), force=True)
  mgr.wait_until_finished()


def restore_latest(mgr: ocp.CheckpointManager, like, partial: bool = False):
  """(step, state) of the newest complete checkpoint, or (None, None) when there is none.
  With `partial`, `like` may name only some top-level entries (e.g. just theta)."""
  step = mgr.latest_step()
  if step is None:
    return None, None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
  if partial:
    args = ocp.args.PyTreeRestore(
        abstract, partial_restore=True,
        restore_args=ocp.checkpoint_utils.construct_restore_args(abstract))
  else:
    args = ocp.args.StandardRestore(abstract)
  return step, mgr.restore(step, args=args)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_json(path, obj) -> None:
  atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_rule_file(path, theta: dict, rule_config: dict, meta: dict | None = None) -> None:
  payload = {"theta": jax.tree_util.tree_map(np.asarray, theta),
             "rule_config": json.dumps(rule_config), "meta": json.dumps(meta or {})}
  atomic_write_bytes(path, serialization.msgpack_serialize(payload))


def load_rule_file(path) -> tuple[dict, dict, dict]:
  try:
    payload = serialization.msgpack_restore(pathlib.Path(path).read_bytes())
    return (payload["theta"], json.loads(payload["rule_config"]), json.loads(payload["meta"]))
  except Exception as e:  # any decoding failure means the same thing to the user
    raise ValueError(f"{path} is not a metaunsup rule file ({type(e).__name__}: {e})") from e
