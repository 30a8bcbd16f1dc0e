import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale, tiny_rule_config
from metaunsup import base_model
from metaunsup.rules import learned


# Float32 rounding carried through one rule update (normalisations, the unit network, the
# stabilised step) at a leaf's scale: up to 1.6e-6 seen for permuted units and 2.5e-5 for
# rescaled weights (with 10x this), on AVX-512 and with XLA held to SSE4.2.
REL_RULE = 1e-4


@functools.partial(jax.jit, static_argnums=(1, 4))
def _update(theta, cfg, params, x, activation="relu"):
  return learned.apply_update(theta, cfg, params, base_model.apply(params, x, activation))


@pytest.mark.parametrize(
  "widths,activation", [((16, 8), "relu"), ((5, 40, 7, 3), "tanh"), ((64,), "step")]
)
def test_one_theta_drives_any_architecture(widths, activation):
  cfg = tiny_rule_config()
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  params = base_model.init(jax.random.PRNGKey(1), 11, widths)
  x = jax.random.normal(jax.random.PRNGKey(2), (8, 11))
  new = _update(theta, cfg, params, x, activation)
  for old_w, new_w, old_v, new_v in zip(params.W, new.W, params.V, new.V):
    assert new_w.shape == old_w.shape and new_v.shape == old_v.shape
    assert bool(jnp.all(jnp.isfinite(new_w))) and not np.allclose(new_w, old_w)
  assert all(b1.shape == b0.shape for b0, b1 in zip(params.b, new.b))


def test_stabilized_update_never_shrinks_receptive_fields():
  W = jax.random.normal(jax.random.PRNGKey(4), (9, 12))
  for seed in range(5):
    dW = learned.stabilize(jax.random.normal(jax.random.PRNGKey(seed), W.shape), W, 0.05)
    assert bool(
      jnp.all(jnp.linalg.norm(W - 0.05 * dW, axis=0) >= jnp.linalg.norm(W, axis=0) - 1e-5)
    )


@pytest.mark.slow
def test_update_ignores_weight_scales_and_fixes_them():
  # The forward pass and the rule read W per column direction and V up to one scale, so
  # rescaling them must not change the step; and the step resets the scales (no overflow).
  cfg = tiny_rule_config()
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  params = base_model.init(jax.random.PRNGKey(1), 10, (9, 7, 4))
  x = jax.random.normal(jax.random.PRNGKey(2), (16, 10))
  scales = [
    jnp.exp(jax.random.uniform(jax.random.PRNGKey(3 + l), (w.shape[1],), minval=-2, maxval=4))
    for l, w in enumerate(params.W)
  ]
  scaled = params.replace(
    W=[w * s for w, s in zip(params.W, scales)], V=[v * 30.0 for v in params.V]
  )
  a, b = _update(theta, cfg, params, x), _update(theta, cfg, scaled, x)
  # Same program on rescaled inputs: equal up to float32 rounding of the rescaling (scales
  # from e^-2 to e^4, so ten times REL_RULE) carried through the rule's normalisations and
  # unit network, at each leaf's scale; a rule that read the scales would differ by O(1).
  assert_close_at_scale(b, a, rel=10 * REL_RULE, err_msg="update of rescaled weights")
  # Unit rms, a quantity of scale 1 computed in float32 from ~10 entries: a few eps.
  for w, v in zip(b.W, b.V):
    np.testing.assert_allclose(jnp.sqrt(jnp.mean(w**2, axis=0)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.sqrt(jnp.mean(v**2)), 1.0, rtol=1e-5)


def test_leading_mean_and_batch_norm_match_plain_jax():
  # Both are rewritten for XLA's CPU backend (matrix-vector means, a hand-written batch-norm
  # gradient); values and gradients must equal the plain formulas.
  h = jax.random.normal(jax.random.PRNGKey(0), (12, 5, 3)) * 3 + 1
  g = jax.random.normal(jax.random.PRNGKey(1), h.shape)
  # Two programs summing 12 terms in another order: a few float32 eps of the largest entry.
  assert_close_at_scale(base_model.leading_mean(h), jnp.mean(h, 0), rel=1e-5)
  assert_close_at_scale(
    jax.grad(lambda h: jnp.sum(base_model.leading_mean(h) * g[0]))(h),
    jax.grad(lambda h: jnp.sum(jnp.mean(h, 0) * g[0]))(h),
    rel=1e-5,
  )

  def plain(h):
    return (h - jnp.mean(h, 0)) * jax.lax.rsqrt(jnp.var(h, 0) + 1e-3)

  # A hand-written gradient against autodiff: the mean, variance and rsqrt round differently,
  # tens of float32 eps of the largest entry; a wrong term in the gradient is O(1).
  assert_close_at_scale(learned.norms.bn_batch(h), plain(h), rel=1e-5)
  assert_close_at_scale(
    jax.grad(lambda h: jnp.sum(learned.norms.bn_batch(h) * g))(h),
    jax.grad(lambda h: jnp.sum(plain(h) * g))(h),
    rel=1e-5,
  )


def test_centred_norm_relu_matches_plain_jax():
  # The unit network's output normalisation has a hand-written gradient (it stores less for
  # the meta-gradient's backward pass); value and gradient must equal the plain formula's.
  pre = jax.random.normal(jax.random.PRNGKey(0), (6, 5, 7)) * 2 + 0.5
  g = jax.random.normal(jax.random.PRNGKey(1), pre.shape)

  def plain(x):
    c = x - jnp.mean(x, -1, keepdims=True)
    return jax.nn.relu(c * jax.lax.rsqrt(jnp.mean(c**2, -1, keepdims=True) + learned.EPS))

  # Custom VJP against autodiff: tens of float32 eps of the largest entry (as above).
  assert_close_at_scale(learned.norms.centred_norm_relu(pre), plain(pre), rel=1e-5)
  assert_close_at_scale(
    jax.grad(lambda x: jnp.sum(learned.norms.centred_norm_relu(x) * g))(pre),
    jax.grad(lambda x: jnp.sum(plain(x) * g))(pre),
    rel=1e-5,
  )


def test_inner_step_size_is_capped():
  cfg = tiny_rule_config(lr_max=0.01)
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  theta["lr_logit"] = jnp.asarray(50.0)
  lr, _ = learned.inner_lrs(theta, cfg)
  assert float(lr) <= 0.01 + 1e-9
  slow = learned.init_theta(jax.random.PRNGKey(0), tiny_rule_config(init_lr_logit=-3.0))
  # One float32 scalar against its float64 formula: a few eps of its own size.
  np.testing.assert_allclose(learned.inner_lrs(slow, cfg)[0], 0.01 / (1 + np.exp(3.0)), rtol=1e-6)


def _permute_hidden(params, layer, perm):
  """Reorder the units of hidden layer `layer` (output of W[layer])."""
  W, b, V = list(params.W), list(params.b), list(params.V)
  W[layer], V[layer], b[layer] = W[layer][:, perm], V[layer][:, perm], b[layer][perm]
  W[layer + 1], V[layer + 1] = W[layer + 1][perm, :], V[layer + 1][perm, :]
  return params.replace(W=W, b=b, V=V)


def test_rule_is_permutation_equivariant_over_hidden_units():
  cfg = tiny_rule_config(unit_id_features=False, cross_unit_mixing=False)
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  params = base_model.init(jax.random.PRNGKey(1), 10, (9, 7, 4))
  x = jax.random.normal(jax.random.PRNGKey(2), (12, 10))
  perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(3), 7))
  updated_then_permuted = _permute_hidden(_update(theta, cfg, params, x), 1, perm)
  permuted_then_updated = _update(theta, cfg, _permute_hidden(params, 1, perm), x)
  # Permuted units sum the layer's statistics in another order: float32 rounding carried
  # through the rule, at each leaf's scale; a rule that saw the order differs by O(1) (next).
  assert_close_at_scale(permuted_then_updated, updated_then_permuted, rel=REL_RULE)


def test_unit_identity_features_break_equivariance():
  # The check above is not vacuous: with unit-identity features on, order matters.
  cfg = tiny_rule_config(unit_id_features=True, cross_unit_mixing=False)
  theta = learned.init_theta(jax.random.PRNGKey(0), cfg)
  params = base_model.init(jax.random.PRNGKey(1), 10, (9, 7, 4))
  x = jax.random.normal(jax.random.PRNGKey(2), (12, 10))
  perm = np.arange(7)[::-1]
  a = _permute_hidden(_update(theta, cfg, params, x), 1, perm)
  b = _update(theta, cfg, _permute_hidden(params, 1, perm), x)
  assert not np.allclose(a.W[1], b.W[1], atol=1e-4)


def test_config_validation_and_theta_check():
  with pytest.raises(ValueError, match="rule.terms"):
    learned.LearnedRule(terms=("hebbian", "magic"))
  with pytest.raises(ValueError, match="rule.hidden"):
    learned.LearnedRule(hidden=0)
  with pytest.raises(ValueError, match="unknown rule config fields"):
    learned.LearnedRule.from_dict({"chanels": 3})
  theta = learned.init_theta(jax.random.PRNGKey(0), tiny_rule_config())
  with pytest.raises(ValueError, match="needs"):
    learned.check_theta(theta, learned.LearnedRule())


def test_theta_size_does_not_depend_on_terms_order():
  a = tiny_rule_config(terms=("hebbian", "lowrank"))
  b = tiny_rule_config(terms=("lowrank", "hebbian"))
  assert a.num_terms == b.num_terms == 3
  assert learned.rule_terms_names(a) == learned.rule_terms_names(b)
