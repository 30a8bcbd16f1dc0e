"""Checks of the public API's arguments: arrays, counts, seeds, network widths and labels,
each refused with one line naming the argument and what it must be. Every public function
(`apply_rule`, `TrainedModel.features`, `fewshot_accuracy`, `support_query_split`,
`fewshot_eval`, the configs of `train_rule` and of the evaluation) checks through these, so
one wrong input gets the same message wherever it enters. The bottom layer: numpy only."""

from __future__ import annotations

import numbers

import numpy as np

# jax.random.PRNGKey keeps a seed's low 32 bits (2**32 + 7 is seed 7, -1 is 2**32 - 1):
# seeds outside this range would silently alias others.
SEED_RANGE = (0, 2**32 - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_EXAMPLE_WIDTHS = "(64, 64, 32)"


def is_int(value) -> bool:
  """Whether value is an integer (Python or numpy), not a bool.

  Args:
    value: any value.

  Returns:
    True for int and numpy integers, False for bool and everything else.
  """
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
  """A count as an int, or a one-line error (a float or string count would reach a Python
  loop or jax.random as the wrong type; a zero chunk would loop forever).

  Args:
    value: the count (a Python or numpy integer; bool is refused).
    name: the argument's name, for the message.
    minimum: the smallest allowed value (None: no bound).
    maximum: the largest allowed value (None: no bound).

  Returns:
    value as int.

  Raises:
    ValueError: value is not an integer, or outside [minimum, maximum].
  """
  if (
    not is_int(value)
    or (minimum is not None and value < minimum)
    or (maximum is not None and value > maximum)
  ):
    if minimum is not None and maximum is not None:
      bounds = f" in [{minimum}, {maximum}]"
    elif minimum is not None:
      bounds = f" >= {minimum}"
    else:
      bounds = f" <= {maximum}" if maximum is not None else ""
    raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
  return int(value)


def seed(value, name: str = "seed") -> int:
  """A PRNG seed in the range jax.random uses without aliasing (`SEED_RANGE`).

  Args:
    value: the seed.
    name: the argument's name, for the message.

  Returns:
    value as int.

  Raises:
    ValueError: value is not an integer in [0, 2**32 - 1].
  """
  low, high = SEED_RANGE
  if is_int(value) and not low <= value <= high:
    raise ValueError(
      f"{name} must be an integer in [0, 2**32 - 1] (the PRNG keeps 32 bits, "
      f"so {value} would be another seed's model), got {value!r}"
    )
  return integer(value, name, low, high)


def widths(value, name: str = "widths") -> tuple[int, ...]:
  """A network's layer widths: a non-empty sequence of positive integers.

  Args:
    value: the widths (a list, tuple or 1-D integer array).
    name: the argument's name, for the message.

  Returns:
    The widths as a tuple of ints.

  Raises:
    ValueError: a string (each character would become a layer), a bare number, an empty
      sequence, or an entry that is not an integer >= 1 (a float would be truncated).
  """
  want = f"{name} must be a sequence of positive integers such as {_EXAMPLE_WIDTHS}"
  if isinstance(value, (str, bytes)):
    raise ValueError(f"{want}, got the string {value!r}")
  if isinstance(value, numbers.Number):
    raise ValueError(f"{want}, got the number {value!r} (one layer: ({value!r},))")
  try:
    entries = tuple(value)
  except TypeError:
    raise ValueError(f"{want}, got {value!r}") from None
  if not entries or not all(is_int(w) and w >= 1 for w in entries):
    raise ValueError(f"{want}, got {value!r}")
  return tuple(int(w) for w in entries)


def finite_float32(x, name: str) -> np.ndarray:
  """x as float32; ValueError (one line) for NaN or inf, and for finite values beyond
  float32's range (which the cast would silently turn into inf).

  Args:
    x: array-like of any shape.
    name: what x is, for the error message (e.g. "support_x").

  Returns:
    np.ndarray float32 of x's shape.

  Raises:
    ValueError: NaN or inf values, or float64 values beyond float32's range.
  """
  raw = np.asarray(x)
  if (
    raw.dtype.kind == "f"
    and raw.dtype.itemsize > 4
    and np.all(np.isfinite(raw))
    and raw.size
    and np.max(np.abs(raw)) > _FLOAT32_MAX
  ):
    raise ValueError(
      f"{name} has values up to {np.max(np.abs(raw)):.3g}, which overflow "
      f"float32 (max {_FLOAT32_MAX:.3g}); rescale them first"
    )
  x = raw.astype(np.float32)
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf values; clean or impute them first")
  return x


def matrix(x, name: str, dim: int | None = None) -> np.ndarray:
  """Examples as a finite, real float32 matrix with at least one feature, or a one-line
  error.

  Args:
    x: examples [N, D], array-like.
    name: the argument's name, for the message.
    dim: the width D the model expects (None: any D >= 1).

  Returns:
    x as float32 numpy [N, D].

  Raises:
    ValueError: x is not 2-D, has no features or another width than `dim`, is complex or
      not numeric (casting would drop the imaginary part or fail deep inside numpy), or
      holds NaN, inf or values beyond float32.
  """
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(
      f"{name} must be a 2-D array [examples, features], got shape {x.shape}; flatten images first"
    )
  if x.dtype.kind == "c":
    raise ValueError(
      f"{name} is complex ({x.dtype}); pass real values (e.g. the magnitude "
      "or the real and imaginary parts as separate features)"
    )
  if x.dtype.kind not in "biuf":
    raise ValueError(
      f"{name} must hold real numbers, got dtype {x.dtype}; convert it with "
      "np.asarray(x, dtype=np.float32)"
    )
  if x.shape[1] < 1:
    raise ValueError(
      f"{name} has no features (shape {x.shape}); pass at least one feature per example"
    )
  if dim is not None and x.shape[1] != dim:
    raise ValueError(f"{name} has {x.shape[1]} features, the model expects {dim}")
  return finite_float32(x, name)


def network_range(x: np.ndarray, name: str) -> None:
  """One-line error for inputs so large that the base network's float32 batch norm would
  overflow on them (it would return near-zero features without a word). The first layer
  sums D inputs times weights of root mean square 1, so |z| <= max|x| D, and batch norm
  sums up to N squares of z - mean: all stay below float32's max while
  max|x| <= sqrt(max / N) / (2 D).

  Args:
    x: float32 inputs [N, D] (already through `finite_float32`).
    name: what x is, for the message.

  Raises:
    ValueError: max|x| is above that bound.
  """
  if not x.size:
    return
  n, d = x.shape
  limit = np.sqrt(_FLOAT32_MAX / n) / (2 * d)
  peak = float(np.max(np.abs(x)))
  if peak > limit:
    raise ValueError(
      f"{name} has values up to {peak:.3g}; the base network's float32 batch "
      f"norm squares sums of {d} of them and overflows beyond {limit:.3g} for "
      f"{n} examples: standardise the inputs (zero mean, unit variance) first"
    )


def classes_in_support(support_y: np.ndarray, query_y: np.ndarray) -> None:
  """Refuses a query holding classes the support set has no labelled example of (a readout
  cannot predict them: they would count as errors without a word).

  Args:
    support_y: [N] labels of the support set.
    query_y: [M] labels of the query set.

  Raises:
    ValueError: naming up to ten classes of query_y absent from support_y.
  """
  missing = np.setdiff1d(np.unique(query_y), np.unique(support_y))
  if missing.size:
    raise ValueError(
      f"query_y has class(es) {missing[:10].tolist()} that support_y lacks; "
      "a readout only predicts classes with labelled examples: add them to "
      "the support set or drop those query examples"
    )
