"""Baselines: Oja's rule through the inner loop, the VAE, supervised backprop and PCA."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA

from helpers import assert_close_at_scale
from metaunsup import base_model, data, inner
from metaunsup.baselines import linear, supervised, vae
from metaunsup.rules.zoo import oja


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", 8)


def _run_oja(cfg: inner.InnerConfig, x, steps: int) -> inner.TaskState:
  state = inner.init_task(jax.random.PRNGKey(0), x.shape[1], cfg)
  return jax.jit(functools.partial(inner.unroll, {}, cfg, k=steps))(state, inner.unlabeled_data(x))


def _projector(w):
  q = np.linalg.qr(np.asarray(w, np.float64))[0]
  return q @ q.T


def test_oja_converges_to_principal_subspace():
  rng = np.random.default_rng(0)
  spectrum = np.concatenate([[10.0, 8.0, 6.0], np.linspace(1.0, 0.2, 17)])
  basis = np.linalg.qr(rng.normal(size=(20, 20)))[0]
  x = ((rng.normal(size=(4000, 20)) * np.sqrt(spectrum)) @ basis.T).astype(np.float32)
  top = np.linalg.svd(x - x.mean(0), full_matrices=False)[2][:3].T
  cfg = inner.InnerConfig(
    rule=oja.Oja(lr=0.3), widths=(3,), activation="tanh", batch_size=64, permute_inputs=False
  )
  start = inner.init_task(jax.random.PRNGKey(0), 20, cfg).params.W[0]
  w = np.asarray(_run_oja(cfg, x, 600).params.W[0])
  # Spectral norm of the projector difference = sine of the largest principal angle.
  assert np.linalg.norm(_projector(start) - top @ top.T, 2) > 0.5
  assert np.linalg.norm(_projector(w) - top @ top.T, 2) < 0.1
  np.testing.assert_allclose(w.T @ w, np.eye(3), atol=0.02)


def test_oja_step_fixed_point_and_input_scale_invariance():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(256, 8)) * np.linspace(3, 0.5, 8), jnp.float32)
  xc = x - x.mean(0)
  top = jnp.asarray(np.linalg.svd(np.asarray(xc), full_matrices=False)[2][:3].T)
  # The batch's own top principal directions, orthonormal, are a fixed point.
  # Unit columns from a float64 SVD, stepped in float32: a few eps of scale 1.
  np.testing.assert_allclose(oja.oja_step(top, x, 0.5), top, atol=1e-5)
  # The step is normalised by the input's power, so rescaling the input changes nothing.
  w = jnp.asarray(rng.normal(size=(8, 3)) * np.sqrt(8), jnp.float32)
  # Same program on inputs 100x larger: the normalisation's float32 rounding, at the
  # scale of the step's result; a step that read the scale would be O(1) off.
  assert_close_at_scale(oja.oja_step(w, 100.0 * x, 0.5), oja.oja_step(w, x, 0.5), rel=1e-5)


def test_oja_step_is_stable_from_the_init_scale_in_784_dims():
  # The hard case for the step size: base_model.init's columns of norm sqrt(784) and inputs
  # dominated by a few directions, so y^T y starts far above its fixed-point value.
  rng = np.random.default_rng(2)
  x = rng.normal(size=(1024, 5)) @ rng.normal(size=(5, 784)) + rng.normal(size=(1024, 784))
  x = jnp.asarray((x - x.mean(0)) / x.std(0), jnp.float32)
  w0 = base_model.init(jax.random.PRNGKey(0), 784, (64,)).W[0]
  lr = oja.Oja().lr

  @jax.jit
  def run(w, x):  # 100 steps through 16 batches of 64
    def step(i, w):
      return oja.oja_step(w, jax.lax.dynamic_slice_in_dim(x, i % 16 * 64, 64), lr)

    return jax.lax.fori_loop(0, 100, step, w)

  w, norms = w0, [np.linalg.norm(w0, axis=0)]
  for _ in range(3):
    w = run(w, x)
    norms.append(np.linalg.norm(w, axis=0))
  # (A step scaled by the input's power alone overflows within 3 steps here.)
  assert np.all(np.isfinite(w))
  for before, after in zip(norms, norms[1:]):  # shrinking towards 1, never overshooting
    assert np.all(after <= before + 1e-3) and after.min() > 1.0
  assert norms[-1].max() < 5.0


def test_oja_two_layers_on_digits_stay_finite(digits):
  cfg = inner.InnerConfig(rule=oja.Oja(), widths=(32, 16), activation="relu", batch_size=64)
  start = inner.init_task(jax.random.PRNGKey(0), digits.input_dim, cfg).params
  end = _run_oja(cfg, digits.train_x, 500).params
  assert all(np.all(np.isfinite(w)) for w in jax.tree_util.tree_leaves(end))
  # Columns head for unit norm from norm sqrt(fan_in) = 8 at init; the components along
  # low-variance directions decay slowly, at lr times their variance share.
  for w in end.W:
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, atol=0.3)
  for a, b in zip(
    jax.tree_util.tree_leaves((start.b, start.V, start.perm)),
    jax.tree_util.tree_leaves((end.b, end.V, end.perm)),
  ):
    np.testing.assert_array_equal(a, b)


def test_vae_elbo_improves_and_checkpoint_zero_is_the_init(digits):
  enc = base_model.init(jax.random.PRNGKey(0), digits.input_dim, (64, 32))
  out = vae.train_vae(
    jax.random.PRNGKey(1),
    enc,
    digits.train_x,
    activation="relu",
    cfg=vae.VAEConfig(),
    checkpoints=[0, 300],
  )
  assert [s for s, _, _ in out] == [0, 300]
  (_, p0, elbo0), (_, p300, elbo300) = out
  for a, b in zip(jax.tree_util.tree_leaves(enc), jax.tree_util.tree_leaves(p0)):
    np.testing.assert_array_equal(a, b)
  assert np.isfinite(elbo0) and np.isfinite(elbo300)
  assert elbo300 > elbo0 + 10.0, (elbo0, elbo300)  # nats per example
  assert all(np.all(np.isfinite(w)) for w in jax.tree_util.tree_leaves(p300))
  assert not np.allclose(p300.W[0], enc.W[0])
  np.testing.assert_array_equal(p300.perm, enc.perm)
  assert base_model.features(p300, jnp.asarray(digits.test_x[:5]), "relu").shape == (5, 32)


def test_vae_decoder_mirrors_the_encoder_by_default():
  def shapes(cfg):  # abstract evaluation: shapes without running anything
    params = jax.eval_shape(
      lambda k: vae.init_vae(k, base_model.init(k, 20, (16, 8)), cfg), jax.random.PRNGKey(0)
    )
    return [layer["w"].shape for layer in params["decoder"]]

  assert shapes(vae.VAEConfig(latent=4)) == [(4, 8), (8, 16), (16, 20)]
  assert shapes(vae.VAEConfig(latent=4, decoder_widths=(5,))) == [(4, 5), (5, 20)]


def test_supervised_fits_the_support_set(digits):
  support = np.concatenate([np.flatnonzero(digits.train_y == c)[:10] for c in range(10)])
  x, y = digits.train_x[support], digits.train_y[support]
  enc = base_model.init(jax.random.PRNGKey(0), digits.input_dim, (64, 32))
  kw = dict(activation="relu", num_classes=10)
  p0, acc0 = supervised.train_classifier(jax.random.PRNGKey(1), enc, x, y, steps=0, **kw)
  trained, acc = supervised.train_classifier(jax.random.PRNGKey(1), enc, x, y, steps=300, **kw)
  assert acc >= 0.95 and acc > acc0, (acc0, acc)
  np.testing.assert_array_equal(p0.W[0], enc.W[0])
  assert all(np.all(np.isfinite(w)) for w in jax.tree_util.tree_leaves(trained))


def test_pca_matches_sklearn(digits):
  x = digits.train_x
  pca = linear.fit_pca(x, dim=10)
  ref = SkPCA(n_components=10, svd_solver="full").fit(x)
  signs = np.sign(np.sum(pca.components * ref.components_, axis=1))
  np.testing.assert_allclose(np.abs(signs), 1.0)
  # Our float32 components and projections (64 terms) against scikit-learn's float64, at
  # their scale (1.3e-5 seen on AVX-512 and SSE4.2); a wrong or swapped component is O(1).
  assert_close_at_scale(pca.components, signs[:, None] * ref.components_, rel=1e-3)
  assert_close_at_scale(
    pca.transform(digits.test_x), signs * ref.transform(digits.test_x), rel=1e-3
  )


@pytest.mark.parametrize(
  "make, field",
  [
    (lambda: oja.Oja(lr=0.0), "Oja.lr"),
    (lambda: oja.Oja(lr=1.5), "Oja.lr"),
    (lambda: vae.VAEConfig(latent=0), "VAEConfig.latent"),
    (lambda: vae.VAEConfig(learning_rate=-1e-3), "VAEConfig.learning_rate"),
    (lambda: vae.VAEConfig(batch_size=1), "VAEConfig.batch_size"),
    (lambda: vae.VAEConfig(decoder_widths=[16]), "VAEConfig.decoder_widths"),
    (lambda: linear.fit_pca(np.zeros((5, 3)), dim=4), "dim"),
  ],
)
def test_bad_config_values_raise_one_line_errors(make, field):
  with pytest.raises(ValueError, match=field) as err:
    make()
  assert "\n" not in str(err.value)


def test_bad_train_arguments_raise(digits):
  enc = base_model.init(jax.random.PRNGKey(0), digits.input_dim, (8,))
  x = digits.train_x[:200]
  with pytest.raises(ValueError, match="checkpoints"):
    vae.train_vae(
      jax.random.PRNGKey(0), enc, x, activation="relu", cfg=vae.VAEConfig(), checkpoints=[10, 0]
    )
  with pytest.raises(ValueError, match="x_unlabeled"):
    vae.train_vae(
      jax.random.PRNGKey(0), enc, x[:, :10], activation="relu", cfg=vae.VAEConfig(), checkpoints=[0]
    )
  with pytest.raises(ValueError, match="'step' has zero gradient"):
    supervised.train_classifier(
      jax.random.PRNGKey(0), enc, x[:20], digits.train_y[:20], activation="step", num_classes=10
    )
  with pytest.raises(ValueError, match="y_support"):
    supervised.train_classifier(
      jax.random.PRNGKey(0),
      enc,
      x[:20],
      digits.train_y[:20] + 10,
      activation="relu",
      num_classes=10,
    )


def test_values_beyond_float32_are_named_as_overflow(digits):
  enc = base_model.init(jax.random.PRNGKey(0), digits.input_dim, (8,))
  x = digits.train_x[:200].astype(np.float64) * 1e40
  with pytest.raises(ValueError, match="x_unlabeled .* overflow float32"):
    vae.train_vae(
      jax.random.PRNGKey(0), enc, x, activation="relu", cfg=vae.VAEConfig(), checkpoints=[0]
    )
  with pytest.raises(ValueError, match="x_support .* overflow float32"):
    supervised.train_classifier(
      jax.random.PRNGKey(0), enc, x[:20], digits.train_y[:20], activation="relu", num_classes=10
    )
