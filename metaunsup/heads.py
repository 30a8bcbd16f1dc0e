"""Few-shot evaluation heads on a frozen representation.

`ridge_meta_objective` is the paper's differentiable meta-objective (closed-form ridge
regression, cosine loss); `logistic_probe_accuracy` is the evaluation-only probe.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np

from metaunsup import checks


def ridge_targets(labels: jax.Array, num_classes: int) -> jax.Array:
  """One-hot rows, centred, scaled to unit mean squared row norm (Metz et al., ICLR 2019).

  Args:
    labels: [N] int, in 0..num_classes-1.
    num_classes: K.

  Returns:
    [N, K] float32.
  """
  y = jax.nn.one_hot(labels, num_classes)
  y = y - 1.0 / num_classes
  return y * jax.lax.rsqrt(jnp.mean(jnp.sum(y**2, axis=1)))


def _with_bias(u):
  return jnp.concatenate([u, jnp.ones((u.shape[0], 1), u.dtype)], axis=1)


def ridge_fit(u: jax.Array, y: jax.Array, lam: float) -> jax.Array:
  """w = (A^T A + lam diag(1..1, 0))^-1 A^T y with A = [u, 1]: the bias is not penalised.

  Args:
    u: [N, D] features.
    y: [N, K] targets.
    lam: ridge penalty (>= 0).

  Returns:
    w [D + 1, K], the last row the bias.

  Raises:
    AssertionError: (chex) u or y is not of rank 2.
  """
  chex.assert_rank([u, y], 2)
  A = _with_bias(u)
  reg = lam * jnp.diag(jnp.concatenate([jnp.ones(u.shape[1]), jnp.zeros(1)]))
  return solve(A.T @ A + reg, A.T @ y)


# jaxlib 0.10's CPU LAPACK kernels split a batch of systems over XLA's intra-op thread pool
# and wait for the pieces on that same pool (`ParallelBatchMap`): when every pool thread is
# such a waiting kernel -- two vmapped ridge fits running side by side on a 2-core CPU, as
# in a PES meta-step -- nobody runs the pieces and the program never finishes (twice in the
# first 50 meta-steps of `--config=compact`, every XLA thread parked in ParallelBatchMap's
# BlockingCounter::Wait, gdb). A batch is therefore solved one system at a time, each an
# unbatched LAPACK call that runs where it is called; the results are bit-identical.
@jax.custom_batching.sequential_vmap
def _solve_one_at_a_time(a, b):
  return jnp.linalg.solve(a, b)


@jax.custom_vjp
def solve(a: jax.Array, b: jax.Array) -> jax.Array:
  """jnp.linalg.solve(a, b) whose batches (under vmap) are solved one system at a time, in
  the forward and the backward pass alike (see the note above: no deadlock of batched
  LAPACK kernels on XLA's CPU thread pool).

  Args:
    a: [D, D] a non-singular matrix.
    b: [D, K].

  Returns:
    x [D, K] with a x = b.
  """
  return _solve_one_at_a_time(a, b)


def _solve_fwd(a, b):
  x = _solve_one_at_a_time(a, b)
  return x, (a, x)


def _solve_bwd(res, g):
  # The linear solve's VJP: b's cotangent solves a^T gb = g, a's is -gb x^T.
  a, x = res
  gb = _solve_one_at_a_time(a.T, g)
  return -gb @ x.T, gb


solve.defvjp(_solve_fwd, _solve_bwd)


def ridge_predict(w: jax.Array, u: jax.Array) -> jax.Array:
  """Predictions of the ridge weights on new features.

  Args:
    w: [D + 1, K] from `ridge_fit`, the bias last.
    u: [N, D] features.

  Returns:
    [N, K].
  """
  return _with_bias(u) @ w


# How `ridge_meta_objective` rescales the features before its ridge fit
# (`config.heads.readout_scaling`): "none" fits them as they are; "standardize" fits them
# standardised with the support set's statistics (`standardize_support`).
READOUT_SCALINGS = ("none", "standardize")


def standardize_support(u_s: jax.Array, u_q: jax.Array, eps: float = 1e-6):
  """Each feature standardised with the support set's statistics: (u - mean_s) * inv_std,
  the same map applied to the support and the query rows.

  inv_std = 1 / sqrt(var_s + floor), the floor relative to the features themselves:
  eps times the mean variance over the D features, plus (32 float eps)^2 times the
  feature's squared mean, below which its variance is rounding in u - mean_s. An absolute
  epsilon would shrink features whose variance is below it, so the output would depend on
  the features' scale, the dependence this exists to remove; with these, u -> c u + b (any
  c > 0, any [D] row b) gives the same output up to float rounding, while c^2 var_s is a
  normal float and |b| is not far beyond the features' spread (its rounding is then part
  of theirs). A feature whose variance is below the floor comes out shrunk toward 0 rather
  than amplified to unit variance (a dead unit stays dead, a constant stays near 0), and
  features 0 on every support row come out 0 there, with finite gradients.

  Args:
    u_s: [N, D] support features; their mean and (population) variance over the N rows
      are the statistics.
    u_q: [M, D] query features.
    eps: the variance floor relative to the mean variance over features, >= 0.

  Returns:
    (u_s', u_q'): [N, D] and [M, D], the dtype of u_s.
  """
  mean = jnp.mean(u_s, axis=0)
  var = jnp.mean((u_s - mean) ** 2, axis=0)
  rounding = (32 * jnp.finfo(var.dtype).eps) ** 2
  total = var + eps * jnp.mean(var) + rounding * mean**2
  # 0 only for a feature that is 0 on every support row when no feature varies (or eps is
  # 0): its support column is 0 at any scale and the ridge gives it no weight, so 1 keeps
  # rsqrt and its gradient finite without changing the fit.
  inv_std = jax.lax.rsqrt(jnp.where(total > 0, total, 1.0))
  return (u_s - mean) * inv_std, (u_q - mean) * inv_std


def ridge_meta_objective(
  u_support,
  labels_support,
  u_query,
  labels_query,
  num_classes: int,
  lam: float = 0.1,
  extra_support=None,
  extra_query=None,
  readout_scaling: str = "none",
):
  """(loss, accuracy). Loss = cosine-form squared error of L2-normalised query predictions
  to the targets, plus the ridge penalty. `extra_*` are optional extra regression targets
  (augmentation parameters), appended to the one-hot targets. The meta-objective of Metz
  et al., ICLR 2019 (closed-form ridge readout on the support set, scored on the query);
  differentiable, float32.

  With readout_scaling="standardize" the features are first standardised with the
  support set's statistics (`standardize_support`), which makes loss and accuracy
  invariant to a positive scale and a shift of the features. With "none" the loss
  depends on their scale: lam is fixed, so the fit's effective regularisation and the
  penalty term lam |w|^2 change with it (features times c give w of order 1/c as c
  grows and of order c / lam once c is small enough), and a rule can lower the loss by
  rescaling its features alone. Issue 29's hypothesis is that the penalty rewards
  shrinking them; this option makes it testable. It applies to this meta-objective
  only: the validation curve and the held-out evaluation read out with `ridge_accuracy`
  / `fewshot_accuracy`, which never standardise for the ridge head (the logistic probe
  always standardises).

  Args:
    u_support: [N, D] features of the labelled support set.
    labels_support: [N] int in 0..num_classes-1.
    u_query: [M, D] features of the query set.
    labels_query: [M] int.
    num_classes: K.
    lam: ridge penalty.
    extra_support: optional [N, E] extra targets.
    extra_query: optional [M, E], required with extra_support.
    readout_scaling: one of READOUT_SCALINGS; "none" is the paper's objective.

  Returns:
    (loss, accuracy), scalars; accuracy is the argmax over the K class outputs.

  Raises:
    ValueError: (one line) readout_scaling is not one of READOUT_SCALINGS.
  """
  if readout_scaling not in READOUT_SCALINGS:
    raise ValueError(
      f"readout_scaling={readout_scaling!r} is unknown; choose one of {READOUT_SCALINGS}"
    )
  if readout_scaling == "standardize":
    u_support, u_query = standardize_support(u_support, u_query)
  y_s = ridge_targets(labels_support, num_classes)
  y_q = ridge_targets(labels_query, num_classes)
  if extra_support is not None:
    y_s = jnp.concatenate([y_s, extra_support], axis=1)
    y_q = jnp.concatenate([y_q, extra_query], axis=1)
  w = ridge_fit(u_support, y_s, lam)
  pred = ridge_predict(w, u_query)
  pred_n = pred * jax.lax.rsqrt(jnp.sum(pred**2, axis=1, keepdims=True) + 1e-8)
  y_n = y_q * jax.lax.rsqrt(jnp.sum(y_q**2, axis=1, keepdims=True) + 1e-8)
  loss = jnp.mean(jnp.sum((pred_n - y_n) ** 2, axis=1)) + lam * jnp.sum(w[:-1] ** 2)
  acc = jnp.mean(jnp.argmax(pred[:, :num_classes], axis=1) == labels_query)
  return loss, acc


def ridge_fit_float64(u: np.ndarray, y: np.ndarray, lam: float):
  """The same ridge as `ridge_fit` (bias unpenalised), solved on the host for evaluation:
  float64 and an SVD of the centred inputs, w = V diag(s / (s^2 + lam)) U^T (y - mean y),
  so lam keeps its effect at any input scale (a float32 normal-equation solve loses it on
  e.g. raw 0..255 pixels, 784-d, 100 examples) and D > N costs an N x N problem.

  Args:
    u: [N, D] features.
    y: [N, C] targets.
    lam: ridge penalty, >= 0.

  Returns:
    (w [D, C], b [C]) float64, predictions u @ w + b.
  """
  u, y = np.asarray(u, np.float64), np.asarray(y, np.float64)
  mu, my = u.mean(axis=0), y.mean(axis=0)
  left, s, right_t = np.linalg.svd(u - mu, full_matrices=False)
  w = right_t.T @ ((s / (s**2 + lam))[:, None] * (left.T @ (y - my)))
  return w, my - mu @ w


def ridge_accuracy(
  u_support, labels_support, u_query, labels_query, num_classes: int, lam: float = 0.1
) -> float:
  """Accuracy of the ridge readout (targets one-hot; the meta-objective's centred, scaled
  targets are an affine map of them with the same argmax). Labels in 0..num_classes-1.

  Args:
    u_support: [N, D] features.
    labels_support: [N] int in 0..num_classes-1.
    u_query: [M, D] features.
    labels_query: [M] int.
    num_classes: K.
    lam: ridge penalty.

  Returns:
    The fraction of query rows whose argmax is their label, a float in [0, 1].
  """
  w, b = ridge_fit_float64(u_support, np.eye(num_classes)[labels_support], lam)
  pred = np.asarray(u_query, np.float64) @ w + b
  return float(np.mean(np.argmax(pred, axis=1) == labels_query))


def _class_indices(support_y, query_y, num_classes: int | None):
  """(support, query, K) with labels as 0..K-1. Without num_classes any labels are mapped
  to their rank among those present; with it, labels must already lie in 0..K-1."""
  labels = np.concatenate([support_y, query_y])
  if labels.dtype.kind not in "iubf" or (
    labels.dtype.kind == "f" and not np.all(labels == np.round(labels))
  ):
    raise ValueError(f"labels must be integers, got {np.unique(labels)[:5].tolist()}")
  if num_classes is None:
    classes = np.unique(labels)
    return (
      np.searchsorted(classes, support_y),
      np.searchsorted(classes, query_y),
      max(len(classes), 2),
    )
  bad = np.unique(labels[(labels < 0) | (labels >= num_classes)])
  if bad.size:
    raise ValueError(
      f"labels {bad[:10].tolist()} are outside 0..{num_classes - 1} "
      f"(num_classes={num_classes}); pass labels 0..num_classes-1, or omit "
      "num_classes to map any labels to classes"
    )
  return support_y.astype(np.int64), query_y.astype(np.int64), int(num_classes)


def logistic_probe_accuracy(
  u_support, labels_support, u_query, labels_query, C: float = 1.0
) -> float:
  """Multinomial logistic regression (scikit-learn, L2) on standardised features.

  Evaluation only (not differentiable): the features are standardised with the support
  set's statistics, then `LogisticRegression(C=C, max_iter=2000)` is fitted.

  Args:
    u_support: [N, D] features.
    labels_support: [N] labels (any values scikit-learn accepts).
    u_query: [M, D] features.
    labels_query: [M] labels.
    C: inverse L2 penalty.

  Returns:
    The query accuracy, a float in [0, 1].
  """
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
  probe.fit(np.asarray(u_support), np.asarray(labels_support))
  return float(probe.score(np.asarray(u_query), np.asarray(labels_query)))


def fewshot_accuracy(
  support_x, support_y, query_x, query_y, head: str = "ridge", num_classes: int | None = None
) -> float:
  """Accuracy of a few-shot readout fitted on (support_x, support_y), scored on the query.

  Args:
    support_x: [N, D] feature matrix.
    support_y: [N] integer labels; any values (mapped to classes) unless num_classes is
      given, in which case they must lie in 0..num_classes-1.
    query_x: [M, D] feature matrix.
    query_y: [M] integer labels, as support_y, of classes the support set holds.
    head: "ridge" (float64 closed form, lambda 0.1) or "logistic" (scikit-learn).
    num_classes: optional K.

  Returns:
    The fraction of query rows classified correctly, a float in [0, 1].

  Raises:
    ValueError: (one line) bad shapes, no features, complex values, NaN/inf, values beyond
      float32, non-integer or out-of-range labels, fewer than 2 support classes, query
      classes absent from the support set, an empty query, an unknown head.
  """
  support_x, query_x = checks.matrix(support_x, "support_x"), checks.matrix(query_x, "query_x")
  support_y, query_y = np.asarray(support_y).reshape(-1), np.asarray(query_y).reshape(-1)
  if support_x.shape[1] != query_x.shape[1]:
    raise ValueError(f"support has {support_x.shape[1]} features, query {query_x.shape[1]}")
  if len(support_y) != len(support_x) or len(query_y) != len(query_x):
    raise ValueError("labels must have one entry per row of features")
  if not len(query_x):
    raise ValueError("query_x is empty; pass at least one query example")
  s_idx, q_idx, k = _class_indices(support_y, query_y, num_classes)
  if len(np.unique(support_y)) < 2:
    raise ValueError(
      f"support_y holds {len(np.unique(support_y))} class(es); a few-shot "
      "readout needs labelled examples of at least 2 classes"
    )
  checks.classes_in_support(support_y, query_y)
  if head == "ridge":
    return ridge_accuracy(support_x, s_idx, query_x, q_idx, k)
  if head == "logistic":
    return logistic_probe_accuracy(support_x, support_y, query_x, query_y)
  raise ValueError(f"unknown head {head!r}; use 'ridge' or 'logistic'")
