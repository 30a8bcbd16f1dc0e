"""Sanger's generalized Hebbian algorithm and its Oja-subspace option (rules/zoo/sanger.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model
from metaunsup.rules.zoo import oja
from metaunsup.rules.zoo import sanger
from zoo_helpers import run_layer


def _angles_deg(w, components):
  """Angle between column j of w and component j (either sign), in degrees."""
  w = np.asarray(w, np.float64)
  cos = np.abs(np.sum(w * components, axis=0)) / np.linalg.norm(w, axis=0)
  return np.degrees(np.arccos(np.minimum(cos, 1.0)))


def test_recovers_the_leading_components_in_order():
  rng = np.random.default_rng(0)
  spectrum = np.concatenate([[10.0, 7.0, 5.0, 3.5], np.linspace(1.0, 0.2, 16)])
  basis = np.linalg.qr(rng.normal(size=(20, 20)))[0]
  x = ((rng.normal(size=(20000, 20)) * np.sqrt(spectrum)) @ basis.T).astype(np.float32)
  components = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][:4].T
  w0 = base_model.init(jax.random.PRNGKey(0), 20, (4,)).W[0]
  assert np.min(_angles_deg(w0, components)) > 20  # the start is nowhere near
  w = run_layer(lambda w, xb, _: sanger.sanger_step(w, xb, 0.1), w0, x, 4000)
  # Each column on its own component (a swap would put it near 90 degrees); what is left
  # is the fluctuation of a constant step (about 2.5 degrees at lr 0.1, batch 64).
  assert np.all(_angles_deg(w, components) < 5), _angles_deg(w, components)
  np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, atol=0.01)


def test_subspace_option_is_ojas_subspace_rule():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(64, 12)) * np.linspace(3, 0.5, 12), jnp.float32)
  w = jnp.asarray(rng.normal(size=(12, 5)), jnp.float32)
  # Two programs computing the same formula: float32 rounding at the result's scale.
  assert_close_at_scale(
    sanger.sanger_step(w, x, 0.5, subspace=True), oja.oja_step(w, x, 0.5), rel=1e-6
  )
  # Sanger's own rule decorrelates unit j from units 1..j only: the last unit's update is
  # the subspace rule's, the others' differ.
  step = sanger.sanger_step(w, x, 0.5) - w
  oja_step = oja.oja_step(w, x, 0.5) - w
  assert_close_at_scale(step[:, -1], oja_step[:, -1], rel=1e-6)
  difference = jnp.max(jnp.abs(step[:, :-1] - oja_step[:, :-1]))
  assert float(difference) > 0.1 * float(jnp.max(jnp.abs(oja_step)))


def test_step_is_invariant_to_the_input_scale():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(64, 8)) * np.linspace(3, 0.5, 8), jnp.float32)
  w = jnp.asarray(rng.normal(size=(8, 3)) * np.sqrt(8), jnp.float32)
  # The step is normalised by the input's power: the same program on inputs 100x larger
  # differs by the normalisation's float32 rounding only.
  assert_close_at_scale(
    sanger.sanger_step(w, 100.0 * x, 0.5), sanger.sanger_step(w, x, 0.5), rel=1e-5
  )


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(lr=1.0), dict(subspace=1)])
def test_bad_config_is_one_line(bad):
  with pytest.raises(ValueError, match="sanger rule"):
    sanger.Sanger(**bad)
