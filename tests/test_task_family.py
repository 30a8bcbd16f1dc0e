"""The task family: buckets, per-task pools from real sources, held-out refusal."""

import dataclasses

import jax
import numpy as np
import pytest

from metaunsup import inner, preprocess, task_family, train
from metaunsup.configs import default as default_config


def family_config(**family):
  c = default_config.get_config()
  c.family.datasets, c.family.image_sizes = ("digits", "mnist1d"), (8, 14)
  c.family.depths, c.family.widths, c.family.feature_width = (1, 2), (16, 24), 8
  c.family.num_buckets, c.family.tasks_per_bucket, c.family.pool_per_class = 4, 3, 24
  c.family.activations = ("relu", "tanh", "swish")
  c.family.augment = ("shift", "rotation", "noise")  # off by default; these tests cover it
  for k, v in family.items():
    c.family[k] = v
  return c


@pytest.fixture(scope="module")
def family():
  c = family_config()
  return task_family.TaskFamily(c, train.inner_config(c))


def test_buckets_group_equal_shapes(family):
  dims = {"digits": {8: 64, 14: 196}, "mnist1d": {0: 40}}
  assert len(family.buckets) == 4
  seen = set()
  for b in family.buckets:
    size = family.image_size(b)
    assert all(dims[name].get(size) == b.input_dim for name in b.datasets)
    assert b.cfg.widths[-1] == 8 and 2 <= len(b.cfg.widths) <= 3
    # Vector inputs get only the augmentations that make sense for them.
    assert b.cfg.augment.spatial == bool(b.cfg.image_shape)
    seen.add((b.input_dim, b.cfg.widths, b.cfg.activation))
  assert len(seen) > 1  # the family really varies the architecture
  # Activations cycle in the listed order: the first (the evaluation's relu) is always drawn.
  assert [b.cfg.activation for b in family.buckets] == ["relu", "tanh", "swish", "relu"]


def test_step_data_is_class_balanced_standardised_and_deterministic(family):
  ids = family.initial_datasets()
  data, seconds = family.step_data(5, ids)
  assert seconds > 0
  for b, d in zip(family.buckets, data):
    assert d.x.shape == (b.num_tasks, 10 * 24, b.input_dim)
    assert d.by_class.shape == (b.num_tasks, 10, 24)
    counts = np.stack([np.bincount(np.asarray(y), minlength=10) for y in d.y])
    assert np.all(counts == 24)
    x = np.asarray(d.x)
    assert np.all(np.isfinite(x)) and abs(x.mean()) < 0.5 and 0.5 < x.std() < 1.5
  again, _ = family.step_data(5, ids)
  other, _ = family.step_data(6, ids)
  np.testing.assert_array_equal(np.asarray(data[0].x), np.asarray(again[0].x))
  assert not np.array_equal(np.asarray(data[0].x), np.asarray(other[0].x))


def test_random_access_reads_equal_the_in_memory_cache():
  c = family_config(num_buckets=1)
  cached = task_family.TaskFamily(c, train.inner_config(c))
  c2 = family_config(num_buckets=1, cache_mb=1e-6)
  streamed = task_family.TaskFamily(c2, train.inner_config(c2))
  assert cached.pools._raw and not streamed.pools._raw
  ids = cached.initial_datasets()
  a, _ = cached.step_data(0, ids)
  b, _ = streamed.step_data(0, ids)
  # Exact: the same bytes read two ways, then the same preprocessing program.
  np.testing.assert_array_equal(np.asarray(a[0].x), np.asarray(b[0].x))


def test_reassign_only_touches_reset_tasks(family):
  ids = family.initial_datasets()
  done = tuple(np.zeros(b.num_tasks, bool) for b in family.buckets)
  assert all(np.array_equal(x, y) for x, y in zip(ids, family.reassign(0, ids, done)))
  done = tuple(np.ones(b.num_tasks, bool) for b in family.buckets)
  new = family.reassign(0, ids, done)
  assert all(n.max() < len(b.datasets) for n, b in zip(new, family.buckets))


def test_check_held_out():
  task_family.check_held_out(["digits"], ["mnist", "digits:test"])
  with pytest.raises(ValueError, match="held out"):
    task_family.check_held_out(["digits", "mnist"], ["mnist"])
  with pytest.raises(ValueError, match="held out"):
    task_family.check_held_out(["fashion_mnist"], ["fashion_mnist:train"])


def test_datasets_with_too_few_classes_are_refused():
  c = family_config(datasets=("digits",))
  base = dataclasses.replace(train.inner_config(c), num_classes=11)
  with pytest.raises(ValueError, match="fewer than"):
    task_family.TaskFamily(c, base)


@pytest.mark.slow
def test_augmented_meta_objective_regresses_the_parameters(family):
  """With augmentation the labelled examples change and the readout also fits the
  parameters, so the objective differs; it stays finite and differentiable."""
  b = next(b for b in family.buckets if b.cfg.image_shape)
  d = jax.tree_util.tree_map(
    lambda a: a[0], family.step_data(0, family.initial_datasets())[0][family.buckets.index(b)]
  )
  plain = dataclasses.replace(b.cfg, augment=preprocess.AugmentConfig())
  state = inner.init_task(jax.random.PRNGKey(0), b.input_dim, b.cfg)
  key = jax.random.PRNGKey(1)
  loss_aug, _ = inner.meta_loss(b.cfg, state.params, d, key)
  loss_plain, _ = inner.meta_loss(plain, state.params, d, key)
  assert np.isfinite(loss_aug) and abs(float(loss_aug) - float(loss_plain)) > 1e-4
  grads = jax.grad(lambda W: inner.meta_loss(b.cfg, state.params.replace(W=W), d, key)[0])(
    state.params.W
  )
  assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in grads)
