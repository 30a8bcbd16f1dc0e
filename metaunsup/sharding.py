"""Spread the batch of tasks over every device of every host with JAX's own machinery.

A 1-D mesh over all (global) devices with one axis, "tasks". Every task's state and data
are sharded along their leading axis (per bucket of the task family); theta, the optimizer
state and the PRNG key are replicated. The jitted meta-step is unchanged: GSPMD partitions the
vmapped unroll by task and all-reduces the mean meta-loss and its gradient, so each device runs
T / devices tasks.

Multi-host: every process calls `initialize_distributed` before any other JAX call, builds
the same state from the same seed, and sees the global mesh; only process 0 writes files.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

TASK_AXIS = "tasks"


def initialize_distributed(env=os.environ) -> bool:
  """Join a multi-process run when the environment asks for one; True if it did.

  JAX_NUM_PROCESSES, JAX_PROCESS_ID and JAX_COORDINATOR_ADDRESS ("host:port" of process 0)
  name the run explicitly; METAUNSUP_DISTRIBUTED=auto lets JAX detect it (TPU VMs, SLURM,
  Open MPI). Must run before anything else touches a device.

  Args:
    env: the environment to read (default: os.environ).

  Returns:
    True when `jax.distributed.initialize` ran (then every process has joined), else False.

  Raises:
    Whatever `jax.distributed.initialize` raises (e.g. an unreachable coordinator);
    ValueError for a non-integer JAX_NUM_PROCESSES / JAX_PROCESS_ID.
  """
  if "JAX_NUM_PROCESSES" in env:
    jax.distributed.initialize(
      coordinator_address=env.get("JAX_COORDINATOR_ADDRESS"),
      num_processes=int(env["JAX_NUM_PROCESSES"]),
      process_id=int(env["JAX_PROCESS_ID"]),
    )
  elif env.get("METAUNSUP_DISTRIBUTED") == "auto":
    jax.distributed.initialize()
  else:
    return False
  # A first collective now, while the processes are in step: on CPU (gloo) every process
  # must join the collective context within 30 s, and the first collective of the
  # meta-step comes after compiles that can differ in length by more than that.
  multihost_utils.sync_global_devices("metaunsup: all processes joined")
  return True


def task_mesh(devices=None) -> Mesh:
  """A 1-D mesh named "tasks" over `devices` (default: every device of every process).

  Args:
    devices: optional sequence of devices.

  Returns:
    `jax.sharding.Mesh` with the single axis `TASK_AXIS`.
  """
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), (TASK_AXIS,))


def _place(tree, sharding: NamedSharding):
  if sharding.mesh.size == 1:
    # Plain single-device arrays, as jit returns them there: a NamedSharding input would
    # not match the outputs fed back and cost a second compile of the meta-step.
    return jax.device_put(tree, sharding.mesh.devices.flat[0])

  def put(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sharding)  # already global (e.g. restored): reshard on device
    # Host value, identical on every process (same seed, same data): each process hands
    # over only the slices its own devices hold.
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree_util.tree_map(put, tree)


def replicate(tree, mesh: Mesh):
  """Every leaf of `tree` placed whole on every device of `mesh`.

  Args:
    tree: pytree of arrays; host values must be the same on every process.
    mesh: from `task_mesh`.

  Returns:
    The same pytree of replicated global arrays (plain single-device arrays on a
    one-device mesh, as jit returns them there).
  """
  return _place(tree, NamedSharding(mesh, P()))


def shard_tasks(tree, mesh: Mesh):
  """Shard every leaf of a per-task pytree (leading axis = task) over the mesh.

  Args:
    tree: pytree whose leaves have a leading [T] task axis.
    mesh: from `task_mesh`.

  Returns:
    The same pytree as global arrays split along T over the mesh's devices.

  Raises:
    ValueError: T is not a multiple of the device count (one line, naming
      family.tasks_per_bucket).
  """
  num_tasks = jax.tree_util.tree_leaves(tree)[0].shape[0]
  if num_tasks % mesh.size:
    raise ValueError(
      f"family.tasks_per_bucket={num_tasks} is not divisible by the "
      f"{mesh.size} devices; use a multiple of {mesh.size}"
    )
  return _place(tree, NamedSharding(mesh, P(TASK_AXIS)))


def place_train_state(state: dict, mesh: Mesh) -> dict:
  """The meta-training state of train.py: each bucket's tasks (and their estimator state)
  sharded, the rest replicated.

  Args:
    state: dict with "tasks" (and optionally "estimator"): a tuple per bucket of pytrees
      with a leading [T] axis; every other entry (theta, optimiser state, key) replicated.
    mesh: from `task_mesh`.

  Returns:
    The same dict, placed on the mesh.

  Raises:
    ValueError: as `shard_tasks`.
  """
  per_task = ("tasks", "estimator")  # "estimator": an estimator's per-task state (PES)
  rest = replicate({k: v for k, v in state.items() if k not in per_task}, mesh)
  return {
    **rest,
    **{k: tuple(shard_tasks(bucket, mesh) for bucket in state[k]) for k in per_task if k in state},
  }


def to_host(tree):
  """numpy copies on every process, of sharded arrays too (gathered across hosts).

  Args:
    tree: pytree of arrays.

  Returns:
    The same pytree of numpy arrays, full (global) shapes.
  """

  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)

  return jax.tree_util.tree_map(get, tree)


def is_writer() -> bool:
  """Every process computes; only process 0 writes files. True on process 0."""
  return jax.process_index() == 0
