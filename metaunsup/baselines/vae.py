"""A VAE whose encoder trunk is the base network the learned rule trains: the gradient-
trained, unsupervised reference point. Only the trunk is returned; the posterior heads and
the decoder exist to define the training signal."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional, Sequence

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from metaunsup import base_model, checks
from metaunsup.baselines.checks import check_differentiable

# Examples held aside from training to score the ELBO at each checkpoint; at most a quarter
# of the data so small data sets keep most of it for training.
EVAL_SIZE = 512


@dataclasses.dataclass(frozen=True)
class VAEConfig:
  """The VAE baseline's settings (Kingma & Welling 2014). Hashable, so it can close over
  jitted code.

  Attributes:
    latent: latent dimensions, >= 1.
    learning_rate: Adam's learning rate, > 0.
    batch_size: unlabeled examples per step, >= 2 (batch norm in the trunk).
    decoder_widths: the decoder's hidden widths; None mirrors the encoder's.

  Raises:
    ValueError: (one line, at construction) for a bad value.
  """

  latent: int = 32
  learning_rate: float = 1e-3
  batch_size: int = 64
  decoder_widths: Optional[tuple] = None  # None: the encoder's widths mirrored

  def __post_init__(self):
    if not checks.is_int(self.latent) or self.latent < 1:
      raise ValueError(f"VAEConfig.latent must be a positive integer, got {self.latent!r}")
    if not isinstance(self.learning_rate, (int, float)) or not self.learning_rate > 0:
      raise ValueError(f"VAEConfig.learning_rate must be positive, got {self.learning_rate!r}")
    if not checks.is_int(self.batch_size) or self.batch_size < 2:
      raise ValueError(
        f"VAEConfig.batch_size must be an integer >= 2 (batch norm), got {self.batch_size!r}"
      )
    if self.decoder_widths is not None and (
      not isinstance(self.decoder_widths, tuple)
      or not all(checks.is_int(w) and w >= 1 for w in self.decoder_widths)
    ):
      raise ValueError(
        f"VAEConfig.decoder_widths must be None or a tuple of positive "
        f"integers, got {self.decoder_widths!r}"
      )


class TrainState(flax.struct.PyTreeNode):
  """The VAE's training state, a pytree carried through `run_steps`' loop.

  Attributes:
    params: {"encoder": {"W", "b"}, "posterior": {"w", "b"}, "decoder": [{"w", "b"}]}.
    opt_state: Adam's state.
    key: PRNG key of the next minibatches and posterior samples.
  """

  params: dict
  opt_state: optax.OptState
  key: jax.Array


def init_vae(key: jax.Array, encoder: base_model.BaseParams, cfg: VAEConfig) -> dict:
  """The trainable parameters. Only the trunk's W and b are trained: V is the learned
  rule's feedback pathway, unused by the forward pass, and perm is fixed by definition.

  Args:
    key: PRNG key of the posterior head and the decoder (LeCun normal).
    encoder: the initial trunk; its last width F feeds the posterior.
    cfg: the VAE's settings.

  Returns:
    {"encoder": {"W", "b"}, "posterior": {"w": [F, 2 * latent], "b"}, "decoder": a list
    of {"w", "b"} from latent through the decoder widths to D}.
  """
  widths = tuple(int(w.shape[1]) for w in encoder.W)
  dec_widths = tuple(reversed(widths)) if cfg.decoder_widths is None else cfg.decoder_widths
  dims = (cfg.latent,) + dec_widths + (encoder.input_dim,)
  k_post, *k_dec = jax.random.split(key, len(dims))
  return {
    "encoder": {"W": list(encoder.W), "b": list(encoder.b)},
    "posterior": _dense_init(k_post, widths[-1], 2 * cfg.latent),
    "decoder": [_dense_init(k, din, dout) for k, din, dout in zip(k_dec, dims[:-1], dims[1:])],
  }


def _dense_init(key, din: int, dout: int) -> dict:
  # LeCun normal keeps the decoder's pre-activations at unit scale for any width.
  return {"w": jax.random.normal(key, (din, dout)) / math.sqrt(din), "b": jnp.zeros(dout)}


def encoder_params(params: dict, encoder: base_model.BaseParams) -> base_model.BaseParams:
  """The trunk with the trained W and b put back.

  Args:
    params: the VAE's parameters (`init_vae`).
    encoder: the initial trunk (its V and perm are kept).

  Returns:
    The trained `base_model.BaseParams`.
  """
  return encoder.replace(W=params["encoder"]["W"], b=params["encoder"]["b"])


def elbo(
  params: dict, encoder: base_model.BaseParams, x: jax.Array, key: jax.Array, activation: str
) -> jax.Array:
  """Mean per-example ELBO in nats, one reparameterised sample: log N(x; decoder(z), I)
  minus KL(N(mu, sigma^2) || N(0, I)). Unit likelihood variance because the inputs are
  standardised. Batch norm in the trunk uses x's own statistics.

  Args:
    params: the VAE's parameters (`init_vae`).
    encoder: the initial trunk (its V and perm).
    x: [B, D] inputs.
    key: PRNG key of the posterior sample.
    activation: the trunk's and decoder's activation name.

  Returns:
    A scalar, the ELBO in nats averaged over the B examples.
  """
  chex.assert_rank(x, 2)
  h = base_model.features(encoder_params(params, encoder), x, activation)
  mu, logvar = jnp.split(h @ params["posterior"]["w"] + params["posterior"]["b"], 2, axis=1)
  z = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)
  act = base_model.get_activation(activation)
  for layer in params["decoder"][:-1]:
    z = act(z @ layer["w"] + layer["b"])
  x_hat = z @ params["decoder"][-1]["w"] + params["decoder"][-1]["b"]
  chex.assert_equal_shape([x, x_hat])
  log_lik = -0.5 * jnp.sum((x - x_hat) ** 2, axis=1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
  kl = 0.5 * jnp.sum(mu**2 + jnp.exp(logvar) - 1.0 - logvar, axis=1)
  return jnp.mean(log_lik - kl)


@functools.partial(jax.jit, static_argnames=("activation", "cfg"))
def run_steps(
  state: TrainState,
  encoder: base_model.BaseParams,
  x_train: jax.Array,
  num_steps: jax.Array,
  *,
  activation: str,
  cfg: VAEConfig,
) -> TrainState:
  """num_steps Adam steps on random minibatches of -ELBO. The count is a traced loop
  bound (a while loop), so every checkpoint interval reuses one compilation.

  Args:
    state: the training state.
    encoder: the initial trunk (its V and perm).
    x_train: [N, D] training inputs.
    num_steps: a scalar int32, the number of steps.
    activation: the activation name.
    cfg: the VAE's settings.

  Returns:
    The state after num_steps steps.
  """
  opt = optax.adam(cfg.learning_rate)
  grad_fn = jax.grad(lambda p, x, k: -elbo(p, encoder, x, k, activation))

  def step(_, s: TrainState) -> TrainState:
    key, k_batch, k_sample = jax.random.split(s.key, 3)
    x = x_train[jax.random.randint(k_batch, (cfg.batch_size,), 0, x_train.shape[0])]
    updates, opt_state = opt.update(grad_fn(s.params, x, k_sample), s.opt_state, s.params)
    return TrainState(params=optax.apply_updates(s.params, updates), opt_state=opt_state, key=key)

  return jax.lax.fori_loop(0, num_steps, step, state)


_eval_elbo = jax.jit(elbo, static_argnames="activation")


def train_vae(
  key: jax.Array,
  encoder_init: base_model.BaseParams,
  x_unlabeled: np.ndarray,
  *,
  activation: str,
  cfg: VAEConfig,
  checkpoints: Sequence[int],
) -> list[tuple[int, base_model.BaseParams, float]]:
  """Trains a VAE whose encoder trunk is the base network, by Adam on the ELBO.

  The ELBO is scored on a fixed held-aside subset (never trained on) with fixed posterior
  noise, so checkpoints are compared on the same estimate.

  Args:
    key: PRNG key of the split, the init, the ELBO's noise and the minibatches.
    encoder_init: the initial trunk (the network every method starts from).
    x_unlabeled: [N, D] finite inputs; min(512, N // 4) are held aside to score the ELBO.
    activation: the network's activation; differentiable (not 'step').
    cfg: the VAE's settings.
    checkpoints: sorted step counts >= 0.

  Returns:
    (step, trunk params, held-aside ELBO in nats per example) at each checkpoint; step 0
    gives encoder_init.

  Raises:
    ValueError: (one line) for wrong shapes, non-finite inputs or ones too large for float32
      batch norm, unsorted checkpoints, too few examples, or a non-differentiable activation.
  """
  x = checks.matrix(x_unlabeled, "x_unlabeled", encoder_init.input_dim)
  checks.network_range(x, "x_unlabeled")
  steps = _check_checkpoints(checkpoints)
  check_differentiable(activation)
  n_eval = min(EVAL_SIZE, len(x) // 4)
  if n_eval < 2 or len(x) - n_eval < cfg.batch_size:
    raise ValueError(
      f"x_unlabeled has {len(x)} examples; need at least 8 and enough for "
      f"a batch of {cfg.batch_size} after holding aside a quarter"
    )
  k_split, k_init, k_eval, k_train = jax.random.split(key, 4)
  order = np.asarray(jax.random.permutation(k_split, len(x)))
  x_eval, x_train = jnp.asarray(x[order[:n_eval]]), jnp.asarray(x[order[n_eval:]])
  params = init_vae(k_init, encoder_init, cfg)
  state = TrainState(
    params=params, opt_state=optax.adam(cfg.learning_rate).init(params), key=k_train
  )
  out, done = [], 0
  for s in steps:
    if s > done:
      state = run_steps(
        state,
        encoder_init,
        x_train,
        jnp.asarray(s - done, jnp.int32),
        activation=activation,
        cfg=cfg,
      )
      done = s
    score = float(_eval_elbo(state.params, encoder_init, x_eval, k_eval, activation))
    out.append((s, encoder_params(state.params, encoder_init), score))
  return out


def _check_checkpoints(checkpoints) -> list[int]:
  steps = [int(s) for s in checkpoints]
  if not steps or steps != sorted(steps) or steps[0] < 0:
    raise ValueError(
      f"checkpoints must be a non-empty sorted list of step counts >= 0, got {list(checkpoints)}"
    )
  return steps
