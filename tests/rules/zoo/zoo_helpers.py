"""Helpers for the tests of the hand-designed rules (tests/rules/zoo/ is on sys.path for them:
pytest puts a test file's folder there when the folder has no __init__.py)."""

import jax
import jax.numpy as jnp


def run_layer(step, w, x, steps: int, batch: int = 64, seed: int = 0):
  """One layer's weights after `steps` calls of step(w, x_batch, i), each on a batch drawn
  with replacement from x, in one jitted loop (the inner loop without the network around
  it, so a test can choose the step size per step).

  Args:
    step: (w [in, out], x_batch [batch, in], i int32) -> new w.
    w: [in, out] initial weights.
    x: [N, in] data.
    steps: number of steps.
    batch: examples per step.
    seed: PRNG seed of the batches.

  Returns:
    [in, out] the final weights (jax array).
  """
  x = jnp.asarray(x, jnp.float32)

  @jax.jit
  def run(w, key):
    def body(i, carry):
      w, key = carry
      key, k_batch = jax.random.split(key)
      return step(w, x[jax.random.randint(k_batch, (batch,), 0, x.shape[0])], i), key

    return jax.lax.fori_loop(0, steps, body, (w, key))[0]

  return run(jnp.asarray(w, jnp.float32), jax.random.PRNGKey(seed))
