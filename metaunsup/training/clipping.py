"""Global-norm clipping of the meta-gradient that survives float32 overflow.

`optax.clip_by_global_norm` squares every entry: a finite gradient with entries above about
1.8e19 has an infinite norm, the clip divides by it and the update becomes zero, which
`optax.apply_if_finite` does not count as skipped (the fault of tensorflow/tensorflow#21363).
Here the norm falls back to one computed on the gradient divided by its largest entry, so
the update is the clipped direction; where the plain norm is finite, the result is optax's,
bit for bit (the default run's numbers do not move).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def global_norm(tree) -> jax.Array:
  """sqrt(sum of squares) of every entry of every leaf, without overflow.

  Args:
    tree: a pytree of float arrays.

  Returns:
    float32 scalar: `optax.tree.norm(tree)` where that is finite; else
    peak * norm(tree / peak), with peak the largest |entry| (finite whenever every entry
    is finite and the norm fits in float32; inf or NaN when an entry is).
  """
  plain = optax.tree.norm(tree)
  leaves = jax.tree_util.tree_leaves(tree)
  peak = jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in leaves]))
  # peak > 0 whenever plain overflowed; the guard keeps the unused branch free of 0/0.
  safe_peak = jnp.where(peak > 0, peak, 1.0)
  scaled = safe_peak * optax.tree.norm(jax.tree_util.tree_map(lambda t: t / safe_peak, tree))
  return jnp.where(jnp.isfinite(plain), plain, scaled)


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
  """`optax.clip_by_global_norm` with `global_norm` in place of `optax.tree.norm`
  (Pascanu et al., 2013).

  Args:
    max_norm: the largest global norm an update keeps (> 0).

  Returns:
    A stateless optax GradientTransformation: updates whose global norm is below max_norm
    pass unchanged; the rest are scaled to global norm max_norm.
  """

  def update_fn(updates, state, params=None):
    del params
    g_norm = global_norm(updates)
    trigger = g_norm < max_norm
    updates = jax.tree_util.tree_map(
      lambda t: jax.lax.select(trigger, t, (t / g_norm.astype(t.dtype)) * max_norm), updates
    )
    return updates, state

  return optax.GradientTransformation(optax.init_empty_state, update_fn)
