"""Few-shot evaluation heads on a frozen representation.

`ridge_meta_objective` is the paper's differentiable meta-objective (closed-form ridge
regression, cosine loss); `logistic_probe_accuracy` is the evaluation-only probe.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np


def ridge_targets(labels: jax.Array, num_classes: int) -> jax.Array:
  """One-hot rows, centred, scaled to unit mean squared row norm."""
  y = jax.nn.one_hot(labels, num_classes)
  y = y - 1.0 / num_classes
  return y * jax.lax.rsqrt(jnp.mean(jnp.sum(y ** 2, axis=1)))


def _with_bias(u):
  return jnp.concatenate([u, jnp.ones((u.shape[0], 1), u.dtype)], axis=1)


def ridge_fit(u: jax.Array, y: jax.Array, lam: float) -> jax.Array:
  """w = (A^T A + lam diag(1..1, 0))^-1 A^T y with A = [u, 1]: the bias is not penalised."""
  chex.assert_rank([u, y], 2)
  A = _with_bias(u)
  reg = lam * jnp.diag(jnp.concatenate([jnp.ones(u.shape[1]), jnp.zeros(1)]))
  return jnp.linalg.solve(A.T @ A + reg, A.T @ y)


def ridge_predict(w: jax.Array, u: jax.Array) -> jax.Array:
  return _with_bias(u) @ w


def ridge_meta_objective(u_support, labels_support, u_query, labels_query, num_classes: int,
                         lam: float = 0.1, extra_support=None, extra_query=None):
  """(loss, accuracy). Loss = cosine-form squared error of L2-normalised query predictions
  to the targets, plus the ridge penalty. `extra_*` are optional extra regression targets
  (augmentation parameters), appended to the one-hot targets."""
  y_s = ridge_targets(labels_support, num_classes)
  y_q = ridge_targets(labels_query, num_classes)
  if extra_support is not None:
    y_s = jnp.concatenate([y_s, extra_support], axis=1)
    y_q = jnp.concatenate([y_q, extra_query], axis=1)
  w = ridge_fit(u_support, y_s, lam)
  pred = ridge_predict(w, u_query)
  pred_n = pred * jax.lax.rsqrt(jnp.sum(pred ** 2, axis=1, keepdims=True) + 1e-8)
  y_n = y_q * jax.lax.rsqrt(jnp.sum(y_q ** 2, axis=1, keepdims=True) + 1e-8)
  loss = jnp.mean(jnp.sum((pred_n - y_n) ** 2, axis=1)) + lam * jnp.sum(w[:-1] ** 2)
  acc = jnp.mean(jnp.argmax(pred[:, :num_classes], axis=1) == labels_query)
  return loss, acc


def ridge_accuracy(u_support, labels_support, u_query, labels_query, num_classes: int,
                   lam: float = 0.1) -> float:
  return float(ridge_meta_objective(jnp.asarray(u_support), jnp.asarray(labels_support),
                                    jnp.asarray(u_query), jnp.asarray(labels_query),
                                    num_classes, lam)[1])


def logistic_probe_accuracy(u_support, labels_support, u_query, labels_query,
                            C: float = 1.0) -> float:
  """Multinomial logistic regression (scikit-learn, L2) on standardised features."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
  probe.fit(np.asarray(u_support), np.asarray(labels_support))
  return float(probe.score(np.asarray(u_query), np.asarray(labels_query)))


def fewshot_accuracy(support_x, support_y, query_x, query_y, head: str = "ridge",
                     num_classes: int | None = None) -> float:
  """Accuracy of a few-shot readout fitted on (support_x, support_y), scored on the query.
  Inputs are feature matrices [N, D] and integer labels [N]."""
  support_x, query_x = np.asarray(support_x, np.float32), np.asarray(query_x, np.float32)
  support_y, query_y = np.asarray(support_y), np.asarray(query_y)
  for name, a in (("support_x", support_x), ("query_x", query_x)):
    if a.ndim != 2:
      raise ValueError(f"{name} must be a [N, D] feature matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
      raise ValueError(f"{name} contains NaN or inf; check the features you pass")
  if support_x.shape[1] != query_x.shape[1]:
    raise ValueError(f"support has {support_x.shape[1]} features, query {query_x.shape[1]}")
  if len(support_y) != len(support_x) or len(query_y) != len(query_x):
    raise ValueError("labels must have one entry per row of features")
  if head == "ridge":
    k = int(num_classes or max(support_y.max(), query_y.max()) + 1)
    return ridge_accuracy(support_x, support_y, query_x, query_y, k)
  if head == "logistic":
    return logistic_probe_accuracy(support_x, support_y, query_x, query_y)
  raise ValueError(f"unknown head {head!r}; use 'ridge' or 'logistic'")
