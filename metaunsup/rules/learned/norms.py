"""The learned rule's normalisations (Metz et al., ICLR 2019, Sec. 4): batch norm over
examples and a channel norm, each with a hand-written gradient that keeps fewer
intermediates than autodiff's (the meta-gradient's time on a CPU is bound by them), and the
receptive fields' root mean square that every update is measured in."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metaunsup import base_model

EPS = 1e-6


@jax.custom_vjp
def bn_batch(h: jax.Array) -> jax.Array:
  """Batch norm over the example axis (axis 0), per unit and channel, no learned scale."""
  return _bn_batch_fwd(h)[0]


def _bn_batch_fwd(h: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
  centred = h - base_model.leading_mean(h)
  inv_std = jax.lax.rsqrt(base_model.leading_mean(centred**2) + 1e-3)
  y = centred * inv_std
  return y, (y, inv_std)


def _bn_batch_bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array]:
  # The textbook batch-norm gradient, written with `leading_mean`: autodiff's own version
  # sums over the batch axis with XLA's slow leading-axis reductions (4 ms against 71 ms
  # for [64, 784, 32] on the 2-core CPU).
  y, inv_std = res
  mean = base_model.leading_mean
  return (inv_std * (g - mean(g) - y * mean(g * y)),)


bn_batch.defvjp(_bn_batch_fwd, _bn_batch_bwd)


@jax.custom_vjp
def centred_norm_relu(pre: jax.Array) -> jax.Array:
  """relu of pre centred and rms-normalised over its last axis (channels)."""
  return _centred_norm_relu_fwd(pre)[0]


def _centred_norm_relu_fwd(pre: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
  centred = pre - jnp.mean(pre, -1, keepdims=True)
  inv_rms = jax.lax.rsqrt(jnp.mean(centred**2, -1, keepdims=True) + EPS)
  normed = centred * inv_rms
  return jax.nn.relu(normed), (normed, inv_rms)


def _centred_norm_relu_bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array]:
  # Keeps one [B, n, H] tensor for the backward pass where autodiff keeps two (the centred
  # input and the relu's input); the stored intermediates bound the meta-gradient's time
  # on a CPU (README, 'Meta-gradient cost'). The rms norm's gradient with eps included is
  # inv_rms (g - y mean(g y)), y the normalised value; centring subtracts the mean.
  normed, inv_rms = res
  g = jnp.where(normed > 0, g, 0.0)
  u = inv_rms * (g - normed * jnp.mean(g * normed, -1, keepdims=True))
  return (u - jnp.mean(u, -1, keepdims=True),)


centred_norm_relu.defvjp(_centred_norm_relu_fwd, _centred_norm_relu_bwd)


def rms_normalize(x: jax.Array, axis: int) -> jax.Array:
  """x scaled to unit root mean square along `axis` (EPS inside the square root)."""
  return x * jax.lax.rsqrt(jnp.mean(x**2, axis=axis, keepdims=True) + EPS)


def column_rms(w: jax.Array) -> jax.Array:
  """Root mean square of each column (receptive field) of w.

  Args:
    w: [in, out].

  Returns:
    [1, out], never zero (EPS is added inside the square root).
  """
  return jnp.sqrt(base_model.leading_mean(w**2)[None] + EPS)
