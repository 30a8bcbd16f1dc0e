"""MetaTrainState (metaunsup/training/state.py): the typed meta-training state saves and
restores with orbax, and checkpoints of the dict state written before it still resume."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

from helpers import tiny_inner_config
from metaunsup import checkpointing, estimators, inner
from metaunsup.rules import learned
from metaunsup.training import meta_step
from metaunsup.training.state import MetaTrainState


def _state(estimator) -> MetaTrainState:
  cfg = tiny_inner_config(min_total_steps=4, max_total_steps=10)
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg.rule)
  opt = meta_step.make_optimizer(
    ml_collections.ConfigDict({"clip_norm": 1.0, "learning_rate": 1e-3})
  )
  tasks = (
    inner.init_tasks(jax.random.PRNGKey(1), 10, cfg, 2),
    inner.init_tasks(jax.random.PRNGKey(2), 10, cfg, 4),
  )
  return MetaTrainState(
    theta=theta,
    opt_state=opt.init(theta),
    tasks=tasks,
    datasets=(np.array([0, 1], np.int32), np.array([1, 0, 0, 1], np.int32)),
    key=jax.random.PRNGKey(3),
    step=jnp.asarray(7, jnp.int32),
    estimator=meta_step.init_estimator_states(estimator, theta, tasks),
  )


def _assert_same(restored, state) -> None:
  assert type(restored) is MetaTrainState
  assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
  for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
    assert np.asarray(a).dtype == np.asarray(b).dtype and np.shape(a) == np.shape(b)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", [estimators.TruncatedBPTT(), estimators.PES()])
def test_orbax_round_trip_keeps_leaves_and_types(tmp_path, estimator):
  state = _state(estimator)
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
  with ocp.StandardCheckpointer() as ckpt:
    ckpt.save(tmp_path / "state", state)
    ckpt.wait_until_finished()
    restored = ckpt.restore(tmp_path / "state", abstract)
  _assert_same(restored, state)


@pytest.mark.parametrize("estimator", [estimators.TruncatedBPTT(), estimators.PES()])
def test_checkpoint_of_the_dict_state_resumes_into_the_typed_state(tmp_path, estimator):
  """Workdirs written before MetaTrainState hold a dict: theta, opt_state, tasks, datasets,
  key, step, and "estimator" only for an estimator with state (PES)."""
  state = _state(estimator)
  legacy = {
    "theta": state.theta,
    "opt_state": state.opt_state,
    "tasks": state.tasks,
    "datasets": state.datasets,
    "key": state.key,
    "step": state.step,
  }
  if isinstance(estimator, estimators.PES):
    legacy["estimator"] = state.estimator
  assert state.to_checkpoint().keys() == legacy.keys()
  checkpointing.save_state(checkpointing.manager(tmp_path), 7, legacy)
  fresh = _state(estimator).replace(step=jnp.asarray(0, jnp.int32))
  step, restored = checkpointing.restore_latest(
    checkpointing.manager(tmp_path), fresh.to_checkpoint()
  )
  assert step == 7
  _assert_same(fresh.from_checkpoint(restored), state)
