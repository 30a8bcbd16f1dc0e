import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import assert_close_at_scale
from metaunsup import heads


def test_ridge_matches_numpy_least_squares():
  rng = np.random.default_rng(0)
  u = rng.normal(size=(40, 6)).astype(np.float64)
  y = rng.normal(size=(40, 3))
  lam = 0.1
  # Ridge with an unpenalised bias == least squares on an augmented system.
  A = np.hstack([u, np.ones((40, 1))])
  reg = np.sqrt(lam) * np.hstack([np.eye(6), np.zeros((6, 1))])
  expected = np.linalg.lstsq(np.vstack([A, reg]), np.vstack([y, np.zeros((6, 3))]), rcond=None)[0]
  got = heads.ridge_fit(jnp.asarray(u, jnp.float32), jnp.asarray(y, jnp.float32), lam)
  # float32 normal equations against a float64 least-squares solve: eps times the system's
  # condition number (~1e2 here), at the scale of the weights.
  assert_close_at_scale(got, expected, rel=1e-4)


def test_targets_centred_unit_rows():
  y = heads.ridge_targets(jnp.array([0, 1, 2, 2]), 3)
  np.testing.assert_allclose(jnp.mean(jnp.sum(y**2, 1)), 1.0, rtol=1e-6)
  np.testing.assert_allclose(y.sum(1), 0.0, atol=1e-6)


def test_meta_objective_perfect_and_bad_features():
  labels = jnp.arange(30) % 3
  good = jnp.eye(3)[labels] * 5.0
  loss_good, acc_good = heads.ridge_meta_objective(good, labels, good, labels, 3, 0.1)
  noise = jnp.asarray(np.random.default_rng(1).normal(size=(30, 3)), jnp.float32)
  loss_bad, acc_bad = heads.ridge_meta_objective(noise, labels, noise[::-1], labels, 3, 0.1)
  assert acc_good == 1.0 and acc_bad < 0.7
  assert loss_good < loss_bad


def test_fewshot_accuracy_heads_agree_on_separable_data():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(4, 8)) * 4
  ys, yq = np.repeat(np.arange(4), 10), np.repeat(np.arange(4), 50)
  xs, xq = centres[ys] + rng.normal(size=(40, 8)), centres[yq] + rng.normal(size=(200, 8))
  assert heads.fewshot_accuracy(xs, ys, xq, yq, head="ridge") > 0.95
  assert heads.fewshot_accuracy(xs, ys, xq, yq, head="logistic") > 0.95


def test_fewshot_accuracy_rejects_bad_input():
  x = np.ones((4, 3))
  with pytest.raises(ValueError, match="NaN"):
    heads.fewshot_accuracy(np.full((4, 3), np.nan), [0, 1, 0, 1], x, [0, 1, 0, 1])
  with pytest.raises(ValueError, match=r"support_x must be a 2-D array \[examples, features\]"):
    heads.fewshot_accuracy(np.ones(4), [0, 1, 0, 1], x, [0, 1, 0, 1])
  with pytest.raises(ValueError, match="unknown head"):
    heads.fewshot_accuracy(x, [0, 1, 0, 1], x, [0, 1, 0, 1], head="knn")


def test_probes_agree_with_scikit_learn():
  """Both few-shot heads on a fixed problem against scikit-learn fitted independently:
  ridge with an unpenalised intercept is sklearn's Ridge (which centres instead), and the
  logistic probe is a standardised, L2-regularised multinomial logistic regression."""
  from sklearn.linear_model import LogisticRegression, Ridge
  from sklearn.preprocessing import StandardScaler

  rng = np.random.default_rng(1)
  centres = 1.5 * rng.normal(size=(4, 8))
  y_s, y_q = np.repeat(np.arange(4), 5), rng.integers(0, 4, 300)
  u_s = (centres[y_s] + rng.normal(size=(20, 8))).astype(np.float32)
  u_q = (centres[y_q] + rng.normal(size=(300, 8))).astype(np.float32)
  targets = np.asarray(heads.ridge_targets(jnp.asarray(y_s), 4))
  w = np.asarray(heads.ridge_fit(jnp.asarray(u_s), jnp.asarray(targets), 0.1))
  ours = np.asarray(heads.ridge_predict(jnp.asarray(w), jnp.asarray(u_q)))
  theirs = Ridge(alpha=0.1).fit(u_s, targets).predict(u_q)
  # float32 against float64 (sklearn), at the scale of the predictions: eps times the
  # condition number of the 20-example system.
  assert_close_at_scale(ours, theirs, rel=1e-4)
  # Accuracies from two programs: a query within rounding of a decision boundary may fall
  # either way, so they may differ by one query of 300, never more.
  one_query = 1.0 / len(y_q)
  assert heads.fewshot_accuracy(u_s, y_s, u_q, y_q, "ridge", 4) == pytest.approx(
    np.mean(theirs.argmax(1) == y_q), abs=one_query + 1e-9
  )
  scaler = StandardScaler().fit(u_s)
  lr = LogisticRegression(C=1.0, max_iter=5000).fit(scaler.transform(u_s), y_s)
  assert heads.fewshot_accuracy(u_s, y_s, u_q, y_q, "logistic") == pytest.approx(
    lr.score(scaler.transform(u_q), y_q), abs=one_query + 1e-9
  )


def _blobs(labels_s, labels_q, seed=0):
  rng = np.random.default_rng(seed)
  classes = np.unique(np.concatenate([labels_s, labels_q]))
  centres = {c: 6.0 * rng.normal(size=5) for c in classes}
  xs = np.stack([centres[c] for c in labels_s]) + rng.normal(size=(len(labels_s), 5))
  xq = np.stack([centres[c] for c in labels_q]) + rng.normal(size=(len(labels_q), 5))
  return xs, xq


@pytest.mark.parametrize("head", ["ridge", "logistic"])
@pytest.mark.parametrize("pair", [(-1, 1), (0, 5), (3, 7)])
def test_any_two_labels_are_mapped_to_classes(head, pair):
  """Labels that are not 0..K-1 read out as well as 0/1 (on main, ridge gave 0.500)."""
  ys, yq = np.repeat(pair, 10), np.repeat(pair, 50)
  xs, xq = _blobs(ys, yq)
  assert heads.fewshot_accuracy(xs, ys, xq, yq, head=head) == 1.0


def test_labels_outside_num_classes_are_a_one_line_error():
  ys, yq = np.repeat([0, 5], 10), np.repeat([0, 5], 50)
  xs, xq = _blobs(ys, yq)
  with pytest.raises(ValueError, match=r"labels \[5\] are outside 0\.\.1") as e:
    heads.fewshot_accuracy(xs, ys, xq, yq, head="ridge", num_classes=2)
  assert "\n" not in str(e.value)


def _numpy_ridge_accuracy(xs, ys, xq, yq, k, lam=0.1):
  """Reference: ridge with an unpenalised bias as float64 least squares (numpy lstsq)."""
  A = np.hstack([xs, np.ones((len(xs), 1))]).astype(np.float64)
  reg = np.sqrt(lam) * np.hstack([np.eye(xs.shape[1]), np.zeros((xs.shape[1], 1))])
  w = np.linalg.lstsq(
    np.vstack([A, reg]), np.vstack([np.eye(k)[ys], np.zeros((xs.shape[1], k))]), rcond=None
  )[0]
  pred = np.hstack([xq, np.ones((len(xq), 1))]) @ w
  return float(np.mean(pred.argmax(1) == yq))


def test_ridge_head_is_stable_on_raw_pixels():
  """Raw 0..255 MNIST pixels, 784-d, 10 labels per class: float32 normal equations lost the
  regulariser (0.116 on main); the float64 SVD solve matches numpy's float64 least squares."""
  from metaunsup import evaluation, sources

  src = sources.get("mnist", "test")
  s_idx, q_idx = evaluation.support_query_split(src.labels, 10, 500, 0, 10)
  xs = np.round(src.read(s_idx).reshape(len(s_idx), -1) * 255)
  xq = np.round(src.read(q_idx).reshape(len(q_idx), -1) * 255)
  ys, yq = src.labels[s_idx], src.labels[q_idx]
  expected = _numpy_ridge_accuracy(xs, ys, xq, yq, 10)
  assert expected > 0.5
  got = heads.fewshot_accuracy(xs, ys, xq, yq, head="ridge", num_classes=10)
  # Both float64, two programs: a query within rounding of a boundary may fall either way.
  assert got == pytest.approx(expected, abs=1.0 / len(yq) + 1e-9)
  # The same at a far larger scale (where float64 normal equations would lose lam too).
  w = heads.ridge_fit_float64(xs, np.eye(10)[ys], 0.1)[0]
  scaled = heads.ridge_fit_float64(xs * 1e8, np.eye(10)[ys], 0.1 * 1e16)[0] * 1e8
  np.testing.assert_allclose(scaled, w, atol=1e-6 * np.abs(w).max())


def test_values_beyond_float32_are_named_as_overflow():
  x = np.ones((4, 3))
  with pytest.raises(ValueError, match="overflow float32") as e:
    heads.fewshot_accuracy(np.full((4, 3), 1e39), [0, 1, 0, 1], x, [0, 1, 0, 1])
  assert "\n" not in str(e.value)


def _lapack_operand_ranks(hlo: str) -> list:
  """The rank of the first operand of every LAPACK custom call in compiled HLO text."""
  ranks = []
  for line in hlo.splitlines():
    if 'custom_call_target="lapack_' in line:
      shape = re.search(r"= \(?[a-z0-9]+\[([0-9,]*)\]", line).group(1)
      ranks.append(len(shape.split(",")))
  return ranks


def test_ridge_fits_of_many_tasks_call_lapack_one_system_at_a_time():
  # Batched LAPACK kernels wait on XLA's CPU thread pool for their pieces and deadlock when
  # every pool thread is one of them (heads.solve's note): a vmapped ridge fit, forward and
  # backward, must only ever hand LAPACK one matrix.
  u, y = jnp.ones((4, 2, 20, 8)), jnp.ones((4, 2, 20, 3))

  def loss(u, y):
    fit = jax.vmap(jax.vmap(lambda u, y: heads.ridge_fit(u, y, 0.1)))
    return jnp.sum(fit(u, y) ** 2)

  for fn in (jax.vmap(jax.vmap(lambda u, y: heads.ridge_fit(u, y, 0.1))), jax.grad(loss)):
    ranks = _lapack_operand_ranks(jax.jit(fn).lower(u, y).compile().as_text())
    assert ranks and set(ranks) == {2}, ranks
  # The batched kernel this avoids does appear for jnp.linalg.solve under vmap, so the
  # check above can fail.
  batched = jax.jit(jax.vmap(jnp.linalg.solve)).lower(jnp.ones((4, 9, 9)), jnp.ones((4, 9, 3)))
  assert 3 in _lapack_operand_ranks(batched.compile().as_text())


def test_solve_matches_jnp_linalg_solve_and_its_gradient():
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  a = jax.random.normal(k1, (6, 5, 5))
  a = a @ jnp.swapaxes(a, 1, 2) + jnp.eye(5)
  b = jax.random.normal(k2, (6, 5, 3))
  np.testing.assert_array_equal(
    jax.jit(jax.vmap(heads.solve))(a, b), jax.jit(jax.vmap(jnp.linalg.solve))(a, b)
  )

  def loss(solve):
    return lambda a, b: jnp.sum(jnp.sin(jax.vmap(solve)(a, b)))

  ours = jax.jit(jax.grad(loss(heads.solve), argnums=(0, 1)))(a, b)
  theirs = jax.jit(jax.grad(loss(jnp.linalg.solve), argnums=(0, 1)))(a, b)
  for g, h in zip(ours, theirs):
    # Two programs for the same VJP (a fresh solve with a^T against the LU factors'
    # transpose solve): equal at float32 rounding of the gradient's scale.
    assert_close_at_scale(g, h, rel=1e-5)
