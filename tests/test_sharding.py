"""Tasks sharded over 4 (forced host) devices, and over 2 processes on localhost, give the
single-device meta-steps. Each configuration runs `sharded_run.py` in its own process
(the device count is fixed when JAX starts)."""

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import sharding

SCRIPT = pathlib.Path(__file__).with_name("sharded_run.py")
TIMEOUT_S = 300


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run_all(commands: dict, tmp) -> None:
  """Start every command at once (peers wait on each other), fail on any error, and never
  leave a process behind."""
  env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent.parent)}
  procs = {
    name: subprocess.Popen(
      [sys.executable, str(SCRIPT), str(tmp / out), *args],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for name, (out, args) in commands.items()
  }
  try:
    for name, p in procs.items():
      log, _ = p.communicate(timeout=TIMEOUT_S)
      assert p.returncode == 0, f"{name} failed:\n{log[-3000:]}"
  finally:
    for p in procs.values():
      if p.poll() is None:
        p.kill()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("single")
  _run_all({"single": ("out.npz", [])}, tmp)
  return dict(np.load(tmp / "out.npz"))


def _assert_same_run(a, b):
  # Each loss is a scalar at its own scale: an entry of theta that Adam moved by a rounding
  # flip (below) has a near-zero gradient, so it moves the loss only to second order.
  np.testing.assert_allclose(a["losses"], b["losses"], rtol=1e-5)
  leaves = sorted(k for k in a if k.startswith("arr_"))
  assert leaves == sorted(k for k in b if k.startswith("arr_"))
  for k in leaves:
    # The losses above are the strict check. Parameters get a tolerance relative to each
    # leaf's scale: two processes sum the meta-gradient in another order, and Adam divides
    # each gradient entry by its own rms, so rounding noise in a near-zero entry becomes a
    # step of up to the learning rate (3e-3) on that entry of theta, and then moves the
    # tasks it trains (fresh-clone runs saw 3.1e-5 and 1.8e-4 on single entries of leaves
    # of scale about 1). A wrong shard or a dropped task moves whole leaves and the losses.
    assert_close_at_scale(b[k], a[k], rel=1e-3, err_msg=k)


@pytest.mark.slow
def test_four_devices_equal_one_device(single, tmp_path):
  _run_all({"devices4": ("out.npz", ["--devices", "4"])}, tmp_path)
  sharded = dict(np.load(tmp_path / "out.npz"))
  assert int(sharded["devices"]) == 4 and str(sharded["tasks_spec"]) == "P('tasks',)"
  _assert_same_run(single, sharded)
  # Outputs fed back keep their shardings: the three meta-steps compiled once.
  assert int(sharded["compiles"]) == int(single["compiles"]) == 1
  assert str(sharded["error"]) == (
    "family.tasks_per_bucket=5 is not divisible by the 4 devices; use a multiple of 4"
  )


@pytest.mark.slow
def test_two_processes_equal_one_process(single, tmp_path):
  coordinator = f"127.0.0.1:{_free_port()}"
  _run_all(
    {
      f"process{i}": (
        "out.npz",
        ["--process-id", str(i), "--num-processes", "2", "--coordinator", coordinator],
      )
      for i in range(2)
    },
    tmp_path,
  )
  both = dict(np.load(tmp_path / "out.npz"))  # written by process 0 only
  assert int(both["devices"]) == 2 and int(both["compiles"]) == 1
  _assert_same_run(single, both)


def test_one_device_mesh_takes_any_task_count():
  mesh = sharding.task_mesh()
  placed = sharding.shard_tasks(np.zeros((3, 2)), mesh)
  assert placed.shape == (3, 2) and mesh.axis_names == ("tasks",)
