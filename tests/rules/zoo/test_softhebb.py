"""SoftHebb for dense layers (metaunsup/rules/zoo/softhebb.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model
from metaunsup.rules.zoo import softhebb
from zoo_helpers import run_layer


def test_weights_converge_to_the_mixture_means_at_unit_norm():
  rng = np.random.default_rng(0)
  means = 4.0 * np.linalg.qr(rng.normal(size=(20, 4)))[0].T  # 4 orthogonal means, [4, 20]
  labels = rng.integers(0, 4, 4000)
  x = (means[labels] + 0.5 * rng.normal(size=(4000, 20))).astype(np.float32)
  # The rule sees the batch-centred input, whose components sit at the means minus their
  # average.
  directions = means - means.mean(0)
  directions /= np.linalg.norm(directions, axis=1, keepdims=True)
  w0 = base_model.init(jax.random.PRNGKey(0), 20, (8,)).W[0]

  def step(w, xb, i):
    return softhebb.softhebb_step(w, xb, jnp.where(i < 2000, 0.2, 0.02))

  w = np.asarray(run_layer(step, w0, x, 3000))
  np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, atol=0.01)
  cos = directions @ (w / np.linalg.norm(w, axis=0))  # [component, unit]
  assert np.max(directions @ (np.asarray(w0) / np.linalg.norm(w0, axis=0))) < 0.9
  # Every component has a unit on it (measured: cosines 0.987 to 0.9996, 8 units on 4
  # components), and every unit is on a component.
  assert np.all(np.max(cos, axis=1) > 0.98), np.max(cos, axis=1)
  assert np.all(np.max(cos, axis=0) > 0.95), np.max(cos, axis=0)


def test_step_is_invariant_to_the_input_scale_and_offset():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(64, 10)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(10, 6)) * np.sqrt(10), jnp.float32)
  # Centred, then divided by the batch's rms norm: a scaled and shifted input changes
  # only rounding.
  assert_close_at_scale(
    softhebb.softhebb_step(w, 100.0 * x + 3.0, 0.2), softhebb.softhebb_step(w, x, 0.2), rel=1e-4
  )


def test_step_moves_no_unit_past_its_fixed_point_from_the_init_scale():
  # base_model.init's columns (norm sqrt(784)) on 784-d inputs: an unnormalised step of
  # lr 0.2 would multiply the largest units by about (1 - 0.2 * 28 * share) and overshoot.
  rng = np.random.default_rng(2)
  x = jnp.asarray(
    rng.normal(size=(64, 5)) @ rng.normal(size=(5, 784)) + rng.normal(size=(64, 784)), jnp.float32
  )
  w = base_model.init(jax.random.PRNGKey(0), 784, (64,)).W[0]
  norms = [np.linalg.norm(w, axis=0)]
  for _ in range(200):
    w = softhebb.softhebb_step(w, x, 0.5)
    norms.append(np.linalg.norm(w, axis=0))
  norms = np.array(norms)
  assert np.all(np.isfinite(norms))
  assert np.min(norms) > 1 - 1e-3  # from 28 down to 1, never past it
  np.testing.assert_allclose(norms[-1], 1.0, atol=1e-3)


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=1.0), dict(inverse_temperature=0.0)])
def test_bad_config_is_one_line(bad):
  with pytest.raises(ValueError, match="softhebb rule"):
    softhebb.SoftHebb(**bad)
