"""A rule's step on conv layers (metaunsup/conv/update.py) is the dense rule's on patches:
a conv layer whose kernel covers the whole image (one position) trains as the MLP's dense
layer on the flattened image, and a 1x1 conv as the MLP's layer on every pixel (its batch
examples x positions), update for update, for every zoo term and the compact rule; and a
rule a conv network cannot train with is one line.

Both conv networks here have the MLP's weight shapes (72 -> 5 -> 3), so one compiled MLP
program serves every comparison (on a CPU, compiling is most of these tests' time)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup import base_model, inner
from metaunsup.conv import network, train, update
from metaunsup.rules.compact import CompactRule
from metaunsup.rules.learned import LearnedRule
from metaunsup.rules.zoo import competitive, krotov_hopfield, terms
from conv_helpers import ZOO_RULES, compact_theta
from helpers import assert_close_at_scale

# The compact rule with a learned schedule, so the conv path's step count is checked too.
TIMED = CompactRule(time_scales=(10.0, 100.0))
# Each zoo term as the compact rule at that zoo rule (one-hot mix, schedule 0: a factor of
# exactly 1), and a random mix of every term with a random schedule: one compiled program
# per network for all (test_conv_train.py ties each zoo rule's own conv path to its
# one-hot theta).
THETAS = {terms.from_rule(r)[0]: TIMED.theta_from(r, None) for r in ZOO_RULES}
THETAS["random_mix"] = compact_theta(TIMED)

CFG = inner.InnerConfig(rule=TIMED, widths=(5, 3), batch_size=8, permute_inputs=False)
DATA = inner.unlabeled_data(jax.random.normal(jax.random.PRNGKey(1), (32, 72)))


def _mlp_state(params: network.ConvParams, key) -> inner.TaskState:
  """The MLP task at step 0 with the conv network's weights (no input permutation; V, which
  neither the zoo nor the compact rule reads, a copy of W)."""
  perm = jnp.arange(72, dtype=jnp.int32)
  mlp = base_model.BaseParams(W=list(params.W), b=list(params.b), V=list(params.W), perm=perm)
  zero = jnp.zeros((), jnp.int32)
  return inner.TaskState(params=mlp, key=key, step=zero, total=zero)


WHOLE = network.architecture(("conv6x6:5", "dense:3"), (6, 6, 2))


@pytest.mark.parametrize("name", THETAS)
def test_a_kernel_over_the_whole_image_trains_as_the_dense_layer(name):
  theta = THETAS[name]
  # The MLP's examples are these images flattened (row, column, channel).
  images = DATA.x.reshape(32, 6, 6, 2)
  params = network.init(jax.random.PRNGKey(0), WHOLE)
  key = jax.random.PRNGKey(2)
  # Both loops draw their batches alike (split the key, randint), so one key gives both the
  # same batches.
  state = _mlp_state(params, key)
  conv = (params, key, jnp.zeros((), jnp.int32))
  for step in range(3):
    conv = train.unroll(TIMED, theta, WHOLE, "relu", 8, *conv, images, 1)
    state = inner.jitted_unroll(theta, CFG, state, DATA, 1)
    # The same operations on the same numbers but for the layout (patches of one position
    # vs the flattened image) and two programs' fusion: float32 rounding, relative to each
    # layer's weights, which the normalised steps amplify little over 3 steps.
    assert_close_at_scale(conv[0].W, state.params.W, rel=1e-5, err_msg=f"step {step}")
  for w, w0 in zip(conv[0].W, params.W):
    assert not np.allclose(w, w0)  # the rule moved every layer


# 2 images of 2x2 pixels of 72 channels: the MLP's batch of 8 examples.
ONE_BY_ONE = network.architecture(("conv1x1:5", "conv1x1:3"), (2, 2, 72))
_conv_step = jax.jit(train.inner_step, static_argnums=(0, 2, 5))


def test_a_1x1_conv_is_the_dense_rule_on_every_pixel():
  theta = THETAS["random_mix"]  # every term at once
  params = network.init(jax.random.PRNGKey(0), ONE_BY_ONE)
  state = _mlp_state(params, jax.random.PRNGKey(2))
  for step in range(3):
    # The rows the MLP's next step draws (as `inner.unroll` draws them), cut into 2 images
    # of 4 pixels: the conv layer's patches are those rows, in the same order.
    _, k_batch = jax.random.split(state.key)
    rows = inner.sample_batch(k_batch, DATA, CFG.batch_size)
    params = _conv_step(TIMED, theta, ONE_BY_ONE, params, rows.reshape(2, 2, 2, 72), "relu", step)
    state = inner.jitted_unroll(theta, CFG, state, DATA, 1)
    # As above: one computation in two layouts, float32 rounding at the weights' scale.
    assert_close_at_scale(params.W, state.params.W, rel=1e-5, err_msg=f"step {step}")


@pytest.mark.parametrize(
  "rule, match",
  [
    (LearnedRule(), "a rule of kind 'learned' is neither"),
    (krotov_hopfield.KrotovHopfield(lr_schedule="linear"), "schedule or state"),
    (competitive.Competitive(counts=True), "schedule or state"),
  ],
  ids=["learned", "schedule", "state"],
)
def test_a_rule_a_conv_network_cannot_train_with_is_one_line(rule, match):
  with pytest.raises(ValueError, match=match) as e:
    update.check_rule(rule)
  assert "\n" not in str(e.value)


def test_a_krotov_hopfield_rule_keeps_its_own_p_and_k():
  rule = krotov_hopfield.KrotovHopfield(lr=0.02, p=2.0, k=3)
  term, lr, _, p, k = update.zoo_term(rule)
  assert (term, lr, p, k) == ("krotov_hopfield", 0.02, 2.0, 3)
