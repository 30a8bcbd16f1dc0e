"""Damaged prepared data and concurrent preparation, on a copy of the prepared digits source
in a temporary METAUNSUP_DATA (the real ~/.cache/metaunsup is never touched)."""

import os
import pathlib
import select
import shutil
import subprocess
import sys

import numpy as np
import pytest

from metaunsup import data, sources


@pytest.fixture
def digits_copy(tmp_path, monkeypatch) -> pathlib.Path:
  """A private copy of the prepared digits folder; returns its version folder."""
  src = pathlib.Path(sources.builder("digits").data_dir)  # prepared by `make data`
  dst = tmp_path / "tfds" / src.parent.name / src.name
  shutil.copytree(src, dst)
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  return dst


def _one_line_naming(e, path) -> str:
  msg = str(e.value)
  assert "\n" not in msg and str(path) in msg, msg
  assert f"delete {path.parent.parent}" in msg and "make data" in msg, msg
  return msg


def _shard(folder: pathlib.Path, split: str) -> pathlib.Path:
  return next(folder.glob(f"*-{split}.array_record-*"))


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_shard_at_open_is_one_line(digits_copy, damage):
  """The reader said "Corrupted Riegeli/records file ..." without the file (or "open()
  failed"), from deep inside array_record."""
  shard = _shard(digits_copy, "train")
  if damage == "truncate":
    shard.write_bytes(shard.read_bytes()[:100_000])
  else:
    shard.unlink()
  with pytest.raises(sources.CorruptDataError) as e:
    data.load("digits", 8)
  _one_line_naming(e, shard)


def test_damaged_shard_at_read_time_is_one_line(digits_copy):
  """A shard that opens but whose records are damaged fails when read."""
  src = sources.get("digits", "test")
  shard = _shard(digits_copy, "test")
  raw = bytearray(shard.read_bytes())
  raw[1000:60_000] = bytes(59_000)
  shard.write_bytes(bytes(raw))
  src = sources.get("digits", "test")
  with pytest.raises(sources.CorruptDataError) as e:
    src.read(np.arange(len(src)))
  _one_line_naming(e, shard)


@pytest.mark.parametrize("name", ["dataset_info.json", "metaunsup-labels-train.npy"])
def test_damaged_metadata_files_are_one_line(digits_copy, name):
  f = digits_copy / name
  f.write_bytes(f.read_bytes()[:50])
  with pytest.raises(sources.CorruptDataError) as e:
    sources.get("digits", "train")
  _one_line_naming(e, f)


@pytest.mark.slow
def test_cli_prints_one_line_for_damaged_data(digits_copy, tmp_path):
  shard = _shard(digits_copy, "train")  # smoke meta-trains on digits: fails before compiling
  shard.write_bytes(shard.read_bytes()[:1000])
  out = subprocess.run(
    [
      sys.executable,
      "-m",
      "metaunsup.train",
      "--config=metaunsup/configs/smoke.py",
      f"--workdir={tmp_path / 'run'}",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])},
  )
  assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
  last = out.stderr.strip().splitlines()[-1]
  assert last.startswith("error: ") and str(shard) in last, out.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.kill
def test_two_processes_preparing_one_source_at_once(tmp_path, monkeypatch, capsys):
  """Two real processes prepare digits into one empty METAUNSUP_DATA at the same time, this
  one and a subprocess: both succeed, read the same, complete data, and only one prepares it.
  Both import what preparing needs first and then start together, on a word sent through a
  pipe: preparing takes a fraction of a second, and the imports, seconds long, would decide
  whether the two overlap at all."""
  code = (
    "import sys, sklearn.datasets, tensorflow_datasets; from metaunsup import sources; "
    "print('ready', flush=True); sys.stdin.readline(); "
    "s = sources.get('digits', 'train'); print(len(s), float(s.read(range(len(s))).sum()))"
  )
  monkeypatch.setenv("METAUNSUP_DATA", str(tmp_path))
  p = subprocess.Popen(
    [sys.executable, "-c", code],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])},
  )
  import sklearn.datasets  # noqa: F401  (imported as in the subprocess)
  import tensorflow_datasets  # noqa: F401

  if not select.select([p.stdout], [], [], 300)[0] or p.stdout.readline() != "ready\n":
    p.kill()
    pytest.fail(p.communicate()[1][-2000:])
  p.stdin.write("go\n")
  p.stdin.flush()
  s = sources.get("digits", "train")
  here = f"{len(s)} {float(s.read(range(len(s))).sum())}\n"
  out, err = p.communicate(timeout=300)
  assert p.returncode == 0, err[-2000:]
  assert out == here and here.split()[0] == "1438"
  # The lock: the other one waited and found it prepared, it did not prepare it again.
  assert (err + capsys.readouterr().err).count("preparing digits") == 1, err[-2000:]
