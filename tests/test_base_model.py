import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model


@pytest.mark.parametrize("activation", sorted(base_model.ACTIVATIONS))
def test_apply_shapes_and_batch_norm(key, activation):
  params = base_model.init(key, 12, (9, 7, 4))
  x = jax.random.normal(jax.random.PRNGKey(1), (16, 12))
  acts = base_model.apply(params, x, activation)
  assert [a.shape for a in acts.xs] == [(16, 12), (16, 9), (16, 7), (16, 4)]
  assert [z.shape for z in acts.zs] == [(16, 12), (16, 9), (16, 7), (16, 4)]
  # Pre-activation minus bias is batch-normalised: zero mean, unit variance per unit.
  z1 = acts.zs[1] - params.b[0]
  np.testing.assert_allclose(z1.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(z1.var(0), 1, atol=1e-2)


def test_permutation_is_fixed_per_task_and_applied(key):
  params = base_model.init(key, 10, (5,))
  assert sorted(np.asarray(params.perm).tolist()) == list(range(10))
  assert not np.array_equal(params.perm, np.arange(10))
  x = jnp.arange(20.0).reshape(2, 10)
  np.testing.assert_array_equal(base_model.apply(params, x, "relu").xs[0], x[:, params.perm])
  assert np.array_equal(base_model.init(key, 10, (5,), permute=False).perm, np.arange(10))


def test_features_with_reference_stats_work_on_single_examples(key):
  params = base_model.init(key, 6, (5, 3))
  ref = jax.random.normal(jax.random.PRNGKey(2), (64, 6))
  stats = base_model.apply(params, ref, "relu").stats
  batch = base_model.features(params, ref[:4], "relu", stats)
  one = base_model.features(params, ref[:1], "relu", stats)
  # A batch of 4 and a batch of 1 are two programs (other matmul kernels): a few float32 eps
  # of the features' scale; mixing examples through batch statistics would be O(1).
  assert_close_at_scale(one, batch[:1], rel=1e-5)


def test_bad_inputs_give_clear_errors(key):
  params = base_model.init(key, 6, (5,))
  with pytest.raises(ValueError, match="expects 6"):
    base_model.apply(params, jnp.ones((4, 7)), "relu")
  with pytest.raises(ValueError, match="unknown activation"):
    base_model.apply(params, jnp.ones((4, 6)), "gelu2")
