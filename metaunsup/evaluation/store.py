"""Finished pieces of an evaluation on disk, so an interrupted run resumes where it stopped.

Each unit of work (one data set and seed, or one sweep point) is written atomically to
OUT/partial/<fingerprint>/ the moment it finishes: its arrays first (.npz), then its JSON,
whose presence marks the unit done. The fingerprint hashes the evaluation config and the
rule's parameters, so results of another config or rule are never mixed in (they stay in
their own folder). Rerunning a finished evaluation only rewrites the reports.

A second process started with `reverse` on the same OUT takes the pieces last first
(`in_order`): each reads what the other has stored, so the two share the work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pathlib
import re

import jax
import numpy as np

from metaunsup import checkpointing, file_faults, local_rule


def fingerprint(config_json: str, learned) -> str:
  """The name of one (evaluation config, rule) pair's folder of pieces.

  Args:
    config_json: the evaluation config as JSON (`ConfigDict.to_json()`); key order and
      formatting do not matter.
    learned: the rule (`rule_files.Rule`): its config and parameters are hashed (as float32).

  Returns:
    12 hex digits of a SHA-256.
  """
  h = hashlib.sha256(json.dumps(json.loads(config_json), sort_keys=True).encode())
  rule_config = learned.config.to_dict()
  if learned.config.kind != local_rule.DEFAULT_KIND:  # the learned rule's folders keep their names
    rule_config["kind"] = learned.config.kind
  h.update(json.dumps(rule_config, sort_keys=True).encode())
  for path, leaf in sorted(
    jax.tree_util.tree_leaves_with_path(learned.theta), key=lambda p: jax.tree_util.keystr(p[0])
  ):
    h.update(jax.tree_util.keystr(path).encode())
    h.update(np.ascontiguousarray(leaf, dtype=np.float32).tobytes())
  return h.hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class PartialResults:
  """The finished pieces of one (evaluation config, rule) pair.

  Attributes:
    folder: where the pieces are, OUT/partial/<fingerprint>.
  """

  folder: pathlib.Path

  @classmethod
  def open(cls, out, config_json: str, learned) -> "PartialResults":
    """The store of one evaluation in OUT (nothing is created until a piece is saved).

    Args:
      out: the evaluation's output folder.
      config_json: the evaluation config as JSON.
      learned: the rule (`rule_files.Rule`).

    Returns:
      The `PartialResults` in OUT/partial/<fingerprint(config_json, learned)>.
    """
    return cls(pathlib.Path(out) / "partial" / fingerprint(config_json, learned))

  def _path(self, unit: str, suffix: str) -> pathlib.Path:
    return self.folder / (re.sub(r"[^A-Za-z0-9@+.=_-]", "_", unit) + suffix)

  def load(self, unit: str, log=print) -> tuple[dict, dict] | None:
    """A finished piece, read back. A piece that does not read back (a disk fault; writes
    are atomic, so not a kill) is logged and treated as missing, so it is computed again.

    Args:
      unit: the piece's name, e.g. 'mnist@14-seed0' or 'sweep-widths=64'.
      log: called with one warning line for a damaged piece.

    Returns:
      (result, arrays) with NaN where the JSON holds null, or None if the piece is missing
      or damaged.
    """
    path = self._path(unit, ".json")
    if not path.exists():
      return None
    arrays_path = self._path(unit, ".npz")
    reading, arrays = path, {}
    try:
      # Strict JSON holds null where an accuracy diverged: NaN again here.
      result = checkpointing.nan_for_null(json.loads(path.read_text()), keep=())
      if not isinstance(result, dict) or not result:
        raise ValueError(f"holds {str(result)[:20]!r}, not a piece's results")
      reading = arrays_path
      if arrays_path.exists():
        with np.load(arrays_path) as z:
          arrays = dict(z)
    except Exception as e:  # noqa: BLE001 - any failure to read it back means "damaged"
      log(f"  warning: {file_faults.damaged(reading, e, 'computing this piece again')}")
      return None
    return result, arrays

  def save(self, unit: str, result: dict, arrays: dict) -> None:
    """Writes a finished piece atomically: its arrays (.npz) first, then its JSON, whose
    presence marks it done.

    Args:
      unit: the piece's name.
      result: JSON-serialisable results (NaN is written as null).
      arrays: named numpy arrays; none written if empty.

    Raises:
      file_faults.WriteFailedError: if the disk refuses the write.
    """
    if arrays:
      buf = io.BytesIO()
      # mypy matches a **dict against savez's allow_pickle: bool as well as its **arrays.
      np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
      checkpointing.atomic_write_bytes(self._path(unit, ".npz"), buf.getvalue())
    checkpointing.atomic_write_json(self._path(unit, ".json"), result)

  def get_or_compute(self, unit: str, compute, log=print) -> tuple[dict, dict]:
    """The stored piece, or computes and stores it.

    Args:
      unit: the piece's name.
      compute: a callable returning (result, arrays), called only if the piece is missing
        or damaged.
      log: called with one line when a piece is read back or found damaged.

    Returns:
      (result, arrays).

    Raises:
      file_faults.WriteFailedError: if a computed piece cannot be written.
    """
    done = self.load(unit, log)
    if done is not None:
      log(f"  {unit}: done before, read from {self.folder}")
      return done
    result, arrays = compute()
    self.save(unit, result, arrays)
    return result, arrays


def in_order(items, reverse: bool):
  """The order a process computes pieces in: as given, or last first for a second process
  sharing the same OUT (`--reverse`).

  Args:
    items: a sequence of pieces.
    reverse: whether to take them last first.

  Returns:
    items, or items reversed.
  """
  return items[::-1] if reverse else items
