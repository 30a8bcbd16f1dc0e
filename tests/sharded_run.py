"""Three meta-steps of a tiny task family on the task mesh, as train.py runs them; writes theta,
the tasks' states, metrics and the compile count to an .npz. Run as a subprocess by
test_sharding.py, because the device count and multi-process setup are fixed before JAX
starts:

  python tests/sharded_run.py OUT.npz [--devices N] [--process-id I --num-processes N
                                                     --coordinator HOST:PORT]
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--devices", type=int, default=1)
parser.add_argument("--process-id", type=int)
parser.add_argument("--num-processes", type=int)
parser.add_argument("--coordinator")
args = parser.parse_args()
# The caller's flags are kept (e.g. `make test-portable`'s --xla_cpu_max_isa): the run must
# be the same program as the single-device one it is compared with, bar the device count.
_inherited = " ".join(
  f
  for f in os.environ.get("XLA_FLAGS", "").split()
  if not f.startswith(
    ("--xla_force_host_platform_device_count", "--xla_backend_optimization_level")
  )
)
os.environ["XLA_FLAGS"] = (
  f"{_inherited} --xla_force_host_platform_device_count={args.devices} "
  "--xla_backend_optimization_level=0"
).strip()  # as conftest.py

import jax  # noqa: E402  (after XLA_FLAGS)
from jax.experimental import multihost_utils  # noqa: E402
import numpy as np  # noqa: E402

from metaunsup import sharding  # noqa: E402
from metaunsup.training import meta_step, setup  # noqa: E402

if args.num_processes:
  sharding.initialize_distributed(
    {
      "JAX_NUM_PROCESSES": str(args.num_processes),
      "JAX_PROCESS_ID": str(args.process_id),
      "JAX_COORDINATOR_ADDRESS": args.coordinator,
    }
  )

sys.path.insert(0, os.path.dirname(__file__))
from helpers import MECHANISM_RULE, tiny_config  # noqa: E402

# Sharding does not depend on the rule: the mechanism rule, whose meta-step compiles several
# times faster than the learned rule's, in each of the four processes.
c = tiny_config(rule=MECHANISM_RULE)
c.family.num_buckets, c.family.tasks_per_bucket = 1, 4  # one program to compile per run
mesh = sharding.task_mesh()
family, static, state = setup.setup(c, mesh=mesh)
losses = []
for step in range(3):  # as train.py: host data per step, sharded by task
  task_data = tuple(
    sharding.shard_tasks(d, mesh)
    for d in family.step_data(step, sharding.to_host(state.datasets))[0]
  )
  state, done, m = meta_step.meta_step(state, task_data, static=static, k=2)
  state = state.replace(
    datasets=sharding.replicate(
      family.reassign(step, sharding.to_host(state.datasets), sharding.to_host(done)), mesh
    )
  )
  losses.append(float(m["meta_loss"]))

error = ""
try:
  sharding.shard_tasks(np.zeros((mesh.size + 1, 2)), mesh)
except ValueError as e:
  error = str(e)
tasks = multihost_utils.process_allgather(state.tasks, tiled=True)
leaves = jax.tree_util.tree_leaves((state.theta, tasks))
if sharding.is_writer():
  np.savez(
    args.out,
    *[np.asarray(a) for a in leaves],
    losses=np.asarray(losses),
    compiles=meta_step.meta_step._cache_size(),
    devices=jax.device_count(),
    tasks_spec=str(getattr(state.tasks[0].params.W[0].sharding, "spec", None)),
    error=error,
  )
