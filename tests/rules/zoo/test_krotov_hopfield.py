"""Krotov & Hopfield's competing hidden units (metaunsup/rules/zoo/krotov_hopfield.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import base_model, data
from metaunsup.rules.zoo import krotov_hopfield
from zoo_helpers import run_layer


def _notebook_step(w, x, lr, p, k, delta, precision=1e-30):
  """The minibatch update of DimaKrotov/Biological_Learning's notebook, in its own layout
  (synapses [units, inputs], inputs [inputs, batch]) and float64, on the batch-centred
  input, with the notebook's eps replaced by lr times the rms weight (the module's step)."""
  synapses, inputs = np.asarray(w, np.float64).T, np.asarray(x, np.float64)
  inputs = (inputs - inputs.mean(0)).T
  hid, num = synapses.shape[0], inputs.shape[1]
  tot_input = (np.sign(synapses) * np.abs(synapses) ** (p - 1)) @ inputs
  order = np.argsort(tot_input, axis=0)
  yl = np.zeros((hid, num))
  yl[order[hid - 1], np.arange(num)] = 1.0
  yl[order[hid - min(k, hid)], np.arange(num)] = -delta
  xx = np.sum(yl * tot_input, 1)
  ds = yl @ inputs.T - xx[:, None] * synapses
  nc = max(np.max(np.abs(ds)), precision)
  return (synapses + lr * np.sqrt(np.mean(synapses**2)) * ds / nc).T


@pytest.mark.parametrize("width,k", [(12, 7), (12, 2), (3, 7)])
def test_step_is_the_notebooks_update(width, k):
  rng = np.random.default_rng(width + k)
  x = rng.normal(size=(40, 9)).astype(np.float32)
  w = rng.normal(size=(9, width)).astype(np.float32)
  # float32 against the float64 transcription; the step divides by max|ds|, so rounding
  # stays at float32's epsilon times a few, at the update's scale.
  assert_close_at_scale(
    krotov_hopfield.krotov_hopfield_step(w, x, 0.2, 3.0, k, 0.4),
    _notebook_step(w, x, 0.2, 3.0, k, 0.4),
    rel=1e-5,
  )


@pytest.mark.parametrize("p,k", [(2.0, 2), (3.0, 7)])  # the notebook's and the paper's
def test_winning_units_converge_to_unit_p_norm(p, k):
  x = data.load("digits", 8).train_x
  w0 = base_model.init(jax.random.PRNGKey(0), 64, (16,)).W[0]
  assert np.min(np.sum(np.abs(np.asarray(w0)) ** p, 0)) > 50  # far from 1 at the start

  def step(w, xb, i):
    return krotov_hopfield.krotov_hopfield_step(w, xb, jnp.where(i < 2000, 0.2, 0.02), p, k, 0.4)

  w = np.asarray(run_layer(step, w0, x, 3000))
  currents = (x - x.mean(0)) @ (np.sign(w) * np.abs(w) ** (p - 1))
  wins = np.bincount(np.argmax(currents, axis=1), minlength=16) / len(x)
  assert np.sum(wins >= 0.01) >= 12  # the competition spreads the inputs over the units
  norms = np.sum(np.abs(w) ** p, axis=0)[wins >= 0.01]
  np.testing.assert_allclose(norms, 1.0, atol=0.01)


def test_step_is_invariant_to_the_input_scale():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(64, 10)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(10, 8)), jnp.float32)
  # The update is divided by its largest entry: inputs 100x larger change only rounding.
  assert_close_at_scale(
    krotov_hopfield.krotov_hopfield_step(w, 100.0 * x, 0.2),
    krotov_hopfield.krotov_hopfield_step(w, x, 0.2),
    rel=1e-5,
  )


@pytest.mark.parametrize(
  "bad",
  [
    dict(lr=0.0),
    dict(lr=1.0),
    dict(lr="0.1"),
    dict(p=1.5),
    dict(k=1),
    dict(k=2.5),
    dict(delta=-0.1),
    dict(precision=0.0),
  ],
)
def test_bad_config_is_one_line(bad):
  with pytest.raises(ValueError, match="krotov_hopfield rule"):
    krotov_hopfield.KrotovHopfield(**bad)
