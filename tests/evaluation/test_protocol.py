import jax
import numpy as np
import pytest

import metaunsup
from helpers import assert_close_at_scale, tiny_rule_config
from metaunsup import inner
from metaunsup.rules import learned
from metaunsup.evaluation import protocol


@pytest.fixture(scope="module")
def tiny_rule():
  cfg = tiny_rule_config()
  return metaunsup.Rule(theta=learned.init_theta(jax.random.PRNGKey(0), cfg), config=cfg)


def test_unroll_checkpoints_match_one_unroll(tiny_rule):
  """Checkpoints advance through chunks of 10 and 1 steps; the network at each checkpoint
  is the one a single unroll of that many steps reaches."""
  cfg = protocol.network_inner_config(tiny_rule.config, (6, 4), "tanh", 8)
  x = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
  task_data = inner.unlabeled_data(x)
  state = inner.init_task(jax.random.PRNGKey(1), 5, cfg)
  got = dict(protocol.unroll_checkpoints(tiny_rule.theta, cfg, state, task_data, (0, 3, 13)))
  np.testing.assert_array_equal(got[0].W[0], state.params.W[0])
  once = inner.unroll(tiny_rule.theta, cfg, state, task_data, 13).params
  # Chunked scans against one scan of 13 steps: XLA may fuse and order the sums of each
  # program differently, and the rule's steps carry that float32 rounding forward; at
  # each leaf's scale, far below a skipped or repeated step's O(1e-2) change.
  assert_close_at_scale(got[13], once, rel=1e-4, err_msg="chunked vs single unroll")
