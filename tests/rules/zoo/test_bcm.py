"""BCM with a sliding threshold (metaunsup/rules/zoo/bcm.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model
from metaunsup.rules.zoo import bcm
from zoo_helpers import run_layer


@pytest.mark.parametrize("q", [0.5, 0.25])  # the first pattern's probability
def test_units_become_selective_to_one_of_two_patterns(q):
  rng = np.random.default_rng(0)
  patterns = rng.uniform(0, 1, size=(2, 20))  # overlapping rates (cosine 0.76)
  which = (rng.uniform(size=4000) >= q).astype(int)
  x = (patterns[which] + 0.05 * rng.normal(size=(4000, 20))).astype(np.float32)
  # Positive weights: every unit starts responding to both patterns.
  w0 = jnp.abs(base_model.init(jax.random.PRNGKey(0), 20, (8,)).W[0])
  scale = np.sqrt(np.mean(np.sum(x**2, axis=1)))  # the rule's input normalisation

  def respond(w):  # [pattern, unit]
    return np.maximum(patterns / scale @ np.asarray(w), 0.0)

  def step(w, xb, i):
    return bcm.bcm_step(w, xb, jnp.where(i < 3000, 0.03, 0.003))

  assert np.all(respond(w0) > 1.0)
  y = respond(run_layer(step, w0, x, 4000))
  preferred = np.argmax(y, axis=0)
  assert set(preferred.tolist()) == {0, 1}  # both fixed points are reached by some unit
  np.testing.assert_array_less(np.min(y, axis=0), 0.05)  # silent to the other pattern
  # BCM's selective fixed point: y = theta = E[y^2] = q y^2, so y = 1 / q for a unit
  # preferring a pattern of probability q.
  np.testing.assert_allclose(np.max(y, axis=0), 1.0 / np.where(preferred == 0, q, 1 - q), rtol=0.05)


def test_step_is_invariant_to_the_input_scale():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.uniform(size=(64, 10)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(10, 6)), jnp.float32)
  # The response reads the input divided by its rms norm: only rounding differs.
  assert_close_at_scale(bcm.bcm_step(w, 100.0 * x, 0.1), bcm.bcm_step(w, x, 0.1), rel=1e-5)


def test_a_silent_unit_gets_no_update():
  x = jnp.asarray(np.random.default_rng(2).uniform(size=(64, 10)), jnp.float32)
  w = -jnp.ones((10, 2), jnp.float32)  # negative currents on positive inputs: y = 0
  np.testing.assert_array_equal(bcm.bcm_step(w, x, 0.5), w)


@pytest.mark.parametrize("lr", [0.0, 1.0, "0.1"])
def test_bad_config_is_one_line(lr):
  with pytest.raises(ValueError, match="bcm rule"):
    bcm.BCM(lr=lr)
