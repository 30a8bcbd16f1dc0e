"""heads.readout_scaling (issue 29): "standardize" makes the meta-objective's ridge readout
invariant to the features' scale and shift; "none" (the default) is the paper's objective,
which is not; the config field is checked and completed for older configs."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from helpers import assert_close_at_scale, synthetic_task_data, tiny_inner_config
from metaunsup import heads, inner
from metaunsup.configs import default as default_config
from metaunsup.training import config_checks, setup, workdir

K, SHOTS, QUERIES, D = 5, 10, 10, 32


def _features():
  """Support and query features of K overlapping classes (accuracy well inside (0, 1)),
  each feature at its own scale, so that per-feature standardisation has work to do."""
  rng = np.random.default_rng(0)
  ys, yq = np.repeat(np.arange(K), SHOTS), np.repeat(np.arange(K), QUERIES)
  centres, scales = rng.normal(size=(K, D)), rng.uniform(0.1, 3.0, size=D)
  us = (centres[ys] + 1.5 * rng.normal(size=(K * SHOTS, D))) * scales
  uq = (centres[yq] + 1.5 * rng.normal(size=(K * QUERIES, D))) * scales
  return us.astype(np.float32), ys, uq.astype(np.float32), yq


def _objective(us, ys, uq, yq, scaling, c=1.0, b=0.0):
  """(loss, accuracy) of the features mapped to c u + b (in float64, then float32, so the
  map itself adds one rounding only)."""
  f = lambda u: jnp.asarray(np.float64(c) * u + b, jnp.float32)  # noqa: E731
  loss, acc = heads.ridge_meta_objective(f(us), ys, f(uq), yq, K, 0.1, readout_scaling=scaling)
  return float(loss), float(acc)


def test_standardize_support_uses_the_support_statistics():
  us, _, uq, _ = _features()
  s, q = heads.standardize_support(jnp.asarray(us), jnp.asarray(uq))
  assert s.shape == us.shape and q.shape == uq.shape and s.dtype == jnp.float32
  # eps = 1e-6 of the mean variance lowers each unit std by at most ~1e-6 relative to 1
  # (features here have variances within 1e3 of each other), well above float32 rounding.
  np.testing.assert_allclose(np.mean(np.asarray(s), 0), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.std(np.asarray(s), 0), 1.0, rtol=1e-3)
  # The query goes through the support's map, not its own statistics.
  mean, std = us.mean(0), us.std(0)
  assert_close_at_scale(q, (uq - mean) / std, rel=1e-3)


def test_standardize_support_keeps_dead_and_collapsed_features_finite():
  """A unit that is 0 on every support row stays 0 (not amplified); a representation with
  no varying feature gives a finite loss and finite gradients, not NaN."""
  us, ys, uq, yq = _features()
  us[:, 0], uq[:, 0] = 0.0, 0.0
  s, _ = heads.standardize_support(jnp.asarray(us), jnp.asarray(uq))
  assert np.all(np.asarray(s)[:, 0] == 0.0)
  for value in (0.0, 1.0 / 3.0, 123.456):
    flat = jnp.full(us.shape, value, jnp.float32)
    loss_fn = lambda u: heads.ridge_meta_objective(  # noqa: E731
      u, ys, u, ys, K, 0.1, readout_scaling="standardize"
    )[0]
    assert np.isfinite(float(loss_fn(flat)))
    assert bool(jnp.all(jnp.isfinite(jax.grad(loss_fn)(flat))))


@pytest.mark.parametrize(
  "c,b", [(1e-3, 0.0), (1e3, 0.0), (1.0, 5.0), (1e-3, 2e-3), (1e3, -4e3), (1e-6, 0.0)]
)
def test_standardize_gives_the_same_loss_and_accuracy_at_any_scale_and_shift(c, b):
  us, ys, uq, yq = _features()
  loss, acc = _objective(us, ys, uq, yq, "standardize")
  loss_cb, acc_cb = _objective(us, ys, uq, yq, "standardize", c, b)
  # Only rounding differs: c u + b carries float32 rounding relative to |b| + its spread
  # (|b| here up to ~20 times the narrowest feature's spread), which the float32
  # normal-equation solve (condition ~1e2 on standardised features) amplifies: ~1e-5 of
  # the loss at most, measured <= 1e-6.
  assert_close_at_scale(loss_cb, loss, rel=1e-4)
  # Accuracy is a count: the same predictions up to rounding give the same argmax (the
  # data's margins are far above rounding).
  assert acc_cb == acc and 0.2 < acc < 1.0


def test_none_depends_on_the_features_scale():
  """The default (the paper's objective) is not scale invariant, so the option matters:
  with a fixed lam, the ridge fit and its penalty change with the features' scale."""
  us, ys, uq, yq = _features()
  loss = _objective(us, ys, uq, yq, "none")[0]
  for c in (1e-3, 1e3):
    assert abs(_objective(us, ys, uq, yq, "none", c)[0] - loss) > 1e-2 * loss


def test_none_is_the_default_objective():
  us, ys, uq, yq = (jnp.asarray(a) for a in _features())
  default = heads.ridge_meta_objective(us, ys, uq, yq, K, 0.1)
  none = heads.ridge_meta_objective(us, ys, uq, yq, K, 0.1, readout_scaling="none")
  assert float(default[0]) == float(none[0]) and float(default[1]) == float(none[1])
  assert inner.InnerConfig(rule=tiny_inner_config().rule).readout_scaling == "none"


def test_meta_loss_reads_the_inner_config():
  """inner.meta_loss standardises when its InnerConfig says so (the loss changes), and
  "none" is the objective called without the option, bit for bit."""
  data = synthetic_task_data()
  cfg_none, cfg_std = tiny_inner_config(), tiny_inner_config(readout_scaling="standardize")
  params = inner.init_task(jax.random.PRNGKey(0), 10, cfg_none).params
  key = jax.random.PRNGKey(1)
  loss_none = float(inner.meta_loss(cfg_none, params, data, key)[0])
  loss_std = float(inner.meta_loss(cfg_std, params, data, key)[0])
  assert np.isfinite(loss_std) and loss_std != loss_none
  assert loss_none == float(inner.meta_loss(cfg_none, params, data, key)[0])


@pytest.mark.parametrize("value", ["standardise", "", None, 1])
def test_bad_readout_scaling_is_a_one_line_error(value):
  # From a dict, as a config file gives it: a ConfigDict's type safety refuses a non-str
  # set on its default, but a hand-written config can hold any type.
  c = default_config.get_config().to_dict()
  c["heads"]["readout_scaling"] = value
  with pytest.raises(ValueError, match="config.heads.readout_scaling") as e:
    config_checks.validate(ml_collections.ConfigDict(c))
  message = str(e.value)
  assert "\n" not in message and repr(value) in message and "'standardize'" in message
  with pytest.raises(ValueError, match="readout_scaling"):
    tiny_inner_config(readout_scaling=value)
  with pytest.raises(ValueError, match="readout_scaling"):
    us, ys, uq, yq = _features()
    heads.ridge_meta_objective(us, ys, uq, yq, K, 0.1, readout_scaling=value)


def test_old_config_without_the_field_completes_to_none():
  c = default_config.get_config().to_dict()
  del c["heads"]["readout_scaling"]
  old = ml_collections.ConfigDict(c)
  config_checks.validate(old)
  done = config_checks.complete(old)
  assert done.heads.readout_scaling == "none" and "readout_scaling" not in old.heads
  assert setup.inner_config(done).readout_scaling == "none"
  # A workdir's saved config.json is completed the same way when a run resumes.
  saved = workdir._with_added_fields(json.loads(json.dumps(c)))
  assert saved["heads"]["readout_scaling"] == "none"


def test_setup_passes_the_field_to_the_inner_config():
  c = default_config.get_config()
  c.heads.readout_scaling = "standardize"
  config_checks.validate(c)
  assert setup.inner_config(c).readout_scaling == "standardize"
