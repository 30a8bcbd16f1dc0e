"""The base network the learned rule trains: an MLP with forward weights W, biases b and
feedback weights V per layer, batch norm on batch statistics, and a fixed input permutation.

Pure functions on an explicit `BaseParams` pytree; `apply` returns every layer's pre- and
post-activation because the rule reads them all.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import chex
import flax.struct
import jax
import jax.numpy as jnp

BN_EPS = 1e-4


def _step(z):
  # Straight-through is not needed: the rule never differentiates the base model.
  return (z > 0).astype(z.dtype)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
  "relu": jax.nn.relu,
  "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.1),
  "tanh": jnp.tanh,
  "swish": jax.nn.swish,
  "sigmoid": jax.nn.sigmoid,
  "step": _step,
}


Activation = str | Callable[[jax.Array], jax.Array]


def get_activation(name: Activation) -> Callable[[jax.Array], jax.Array]:
  """The activation function named `name` (a key of `ACTIVATIONS`).

  Args:
    name: "relu", "leaky_relu" (slope 0.1), "tanh", "swish", "sigmoid" or "step"; or an
      elementwise function (returned as it is: `task_activation`'s per-task choice).

  Returns:
    An elementwise function of a jax array.

  Raises:
    ValueError: an unknown name, listing the known ones.
  """
  if callable(name):
    return name
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


def task_activation(names: tuple, index: jax.Array) -> Callable[[jax.Array], jax.Array]:
  """The activation `names[index]` for a traced index: a task family whose tasks draw their
  activation per task (`inner.InnerConfig.activations`) vmaps tasks of different
  activations in one program. Under vmap, `lax.switch` evaluates every branch and selects,
  an elementwise cost beside the layer's matmul.

  Args:
    names: names of `ACTIVATIONS` (static).
    index: int32 scalar in [0, len(names)) (clamped by `lax.switch`).

  Returns:
    An elementwise function of a jax array.

  Raises:
    ValueError: an unknown name.
  """
  fns = [get_activation(n) for n in names]
  return lambda z: jax.lax.switch(index, fns, z)


class BaseParams(flax.struct.PyTreeNode):
  """phi of the paper (Metz et al., ICLR 2019, Sec. 4): the base network's parameters.

  Lists are indexed by layer l = 0 .. L-1, n_0 = input_dim and n_{l+1} = widths[l].

  Attributes:
    W: forward weights, W[l] [n_l, n_{l+1}].
    b: biases, b[l] [n_{l+1}].
    V: feedback weights the rule sends signals down through, V[l] of W[l]'s shape.
    perm: [input_dim] int32, the task's fixed input permutation.
  """

  W: list
  b: list
  V: list
  perm: jax.Array  # [input_dim] int32, fixed per task

  @property
  def input_dim(self) -> int:
    """Number of input features the network expects."""
    return self.perm.shape[0]


class Activations(flax.struct.PyTreeNode):
  """Per-layer values of one forward pass. xs[0] is the permuted input; zs[0] is the same
  (the input units have no pre-activation) so every layer has the same fields. stats[l] is
  the (mean, var) batch norm used in layer l, reusable as `apply(stats=...)`.

  Attributes:
    xs: L + 1 post-activations, xs[l] [B, n_l].
    zs: L + 1 pre-activations (after batch norm and bias), zs[l] [B, n_l].
    stats: L pairs (mean [n_{l+1}], var [n_{l+1}]) of x W over the batch.
  """

  xs: list
  zs: list
  stats: list


def init(
  key: jax.Array,
  input_dim: int,
  widths: Sequence[int],
  permute: bool = True,
  init_scale: float = 0.01,
) -> BaseParams:
  """Truncated-normal W (sd `init_scale`) rescaled to unit column rms: the layer is followed
  by batch norm, so only the direction matters, and unit rms makes the rule's relative steps
  comparable across widths.

  Args:
    key: PRNG key.
    input_dim: D, features of a flattened input.
    widths: hidden widths, the last one the representation (e.g. (64, 64, 32)).
    permute: draw a random input permutation (else the identity).
    init_scale: standard deviation of W before the rescaling.

  Returns:
    `BaseParams` with W[l], V[l] [n_l, n_{l+1}] (unit column rms), b[l] [n_{l+1}]
    (normal, sd 0.01) and perm [D].
  """
  dims = (int(input_dim),) + tuple(int(w) for w in widths)
  keys = jax.random.split(key, 3 * len(widths) + 1)
  Ws, bs, Vs = [], [], []
  for l, (din, dout) in enumerate(zip(dims[:-1], dims[1:])):
    kw, kb, kv = keys[3 * l : 3 * l + 3]
    w = init_scale * jax.random.truncated_normal(kw, -2.0, 2.0, (din, dout))
    Ws.append(unit_columns(w))
    bs.append(0.01 * jax.random.normal(kb, (dout,)))
    Vs.append(unit_columns(jax.random.normal(kv, (din, dout))))
  perm = (jax.random.permutation(keys[-1], input_dim) if permute else jnp.arange(input_dim)).astype(
    jnp.int32
  )
  return BaseParams(W=Ws, b=bs, V=Vs, perm=perm)


def unit_columns(w: jax.Array) -> jax.Array:
  """w [in, out] rescaled to unit rms per column (per unit's receptive field).

  Args:
    w: [in, out].

  Returns:
    [in, out], each column with root mean square 1.
  """
  return w * jax.lax.rsqrt(leading_mean(w**2) + 1e-12)


@jax.custom_vjp
def leading_mean(x: jax.Array) -> jax.Array:
  """Mean over the leading axis (the batch, or a weight matrix's inputs) as a
  matrix-vector product: XLA's CPU backend reduces over a leading axis of a tensor larger
  than its cache over 10x slower than it runs the same product (`make bench`, 'Batch
  reductions'), and such means are most of the rule's step at 784 inputs.

  Args:
    x: [N, ...].

  Returns:
    [...], the mean over N (float32 matmul at HIGHEST precision). Its gradient is a
    broadcast (custom VJP).
  """
  weights = jnp.full((x.shape[0],), 1.0 / x.shape[0], x.dtype)
  return jnp.tensordot(weights, x, axes=1, precision=jax.lax.Precision.HIGHEST)


def _leading_mean_fwd(x):
  return leading_mean(x), x.shape[0]


def _leading_mean_bwd(n, g):
  # A broadcast; JAX's own transpose of the product would be an outer-product matmul.
  return (jnp.broadcast_to(g / n, (n,) + g.shape),)


leading_mean.defvjp(_leading_mean_fwd, _leading_mean_bwd)


def batch_stats(z: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean and (biased) variance of z over the batch.

  Args:
    z: [B, n].

  Returns:
    (mean [n], var [n]).
  """
  mean = leading_mean(z)
  return mean, leading_mean((z - mean) ** 2)


def apply(
  params: BaseParams, x: jax.Array, activation: Activation, stats: Optional[list] = None
) -> Activations:
  """Forward pass on a batch x [B, input_dim].

  Batch norm (unit scale, no learned scale) normalises x W with the batch's own statistics,
  or with `stats` (a per-layer list of (mean, var)) when given, so features of a single
  example can be computed with statistics gathered from a reference batch.

  Args:
    params: the network.
    x: [B, D], D = params.input_dim; permuted by params.perm inside.
    activation: a name of `ACTIVATIONS`, or an elementwise function (`task_activation`).
    stats: optional L pairs (mean [n_{l+1}], var [n_{l+1}]), e.g. a previous
      `Activations.stats`.

  Returns:
    `Activations` with xs, zs (L + 1 entries [B, n_l]) and the statistics used.

  Raises:
    ValueError: x has the wrong number of features, or an unknown activation.
    AssertionError: (chex) x is not of rank 2.
  """
  chex.assert_rank(x, 2)
  if x.shape[1] != params.input_dim:
    raise ValueError(
      f"input has {x.shape[1]} features but the network expects "
      f"{params.input_dim}; flatten/resize the data to match"
    )
  act = get_activation(activation)
  h = x[:, params.perm]
  xs, zs, used = [h], [h], []
  for l, (W, b) in enumerate(zip(params.W, params.b)):
    a = h @ W
    mean, var = batch_stats(a) if stats is None else stats[l]
    z = (a - mean) * jax.lax.rsqrt(var + BN_EPS) + b
    h = act(z)
    xs.append(h)
    zs.append(z)
    used.append((mean, var))
  return Activations(xs=xs, zs=zs, stats=used)


def features(
  params: BaseParams, x: jax.Array, activation: Activation, stats: Optional[list] = None
) -> jax.Array:
  """The representation: post-activation of the last layer, [B, widths[-1]].

  Args:
    params: the network.
    x: [B, D].
    activation: a name of `ACTIVATIONS`, or an elementwise function (`task_activation`).
    stats: optional per-layer batch-norm statistics (see `apply`).

  Returns:
    [B, widths[-1]].

  Raises:
    ValueError, AssertionError: as `apply`.
  """
  return apply(params, x, activation, stats).xs[-1]
