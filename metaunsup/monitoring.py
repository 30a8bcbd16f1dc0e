"""Watching a meta-training run: TensorBoard event files written while it runs, and a figure
of the meta-loss, the family's query accuracy and (when the run has one) the validation
curve over meta-steps at its end.

Event files go through tensorboardX, which needs only numpy and protobuf (clu's metric
writers and `tf.summary` need TensorFlow, which this project otherwise does without):

  tensorboard --logdir WORKDIR/tensorboard
"""

from __future__ import annotations

import pathlib

import numpy as np

TENSORBOARD_DIR = "tensorboard"
CURVES_FILE = "curves.png"
SCALARS = (
  "meta_loss",
  "query_accuracy",
  "grad_norm",
  "truncation",
  "tasks_reset",
  "skipped",
  "data_seconds",
  "step_seconds",
)
# The validation curve's fields (`training.validation`), on the rows where it was computed.
VALIDATION_SCALARS = ("val_accuracy", "val_accuracy_random_init", "val_seconds")
VALIDATION_GROUPS = ("val_accuracy_by_steps", "val_accuracy_by_dataset")


class MetricsWriter:
  """One scalar per metric and meta-step (and one per bucket's loss) into
  WORKDIR/tensorboard. `start` is the first step of this run: events a previous,
  interrupted run logged from that step on are discarded by TensorBoard (purge_step), so
  a resumed run shows one clean curve.

  Args:
    workdir: the run's folder.
    start: the first meta-step this run logs.
    enabled: False writes nothing (e.g. on processes other than 0).
  """

  def __init__(self, workdir, start: int = 0, enabled: bool = True):
    self._writer = None
    if enabled:
      from tensorboardX import SummaryWriter

      # The suffix keeps a quickly resumed run (same second, same host) from overwriting
      # the previous run's event file, whose name is otherwise the same.
      self._writer = SummaryWriter(
        logdir=str(pathlib.Path(workdir) / TENSORBOARD_DIR),
        purge_step=start or None,
        flush_secs=10,
        filename_suffix=f".from{start:09d}",
      )

  def write(self, row: dict) -> None:
    """Log one meta-step.

    Args:
      row: one metrics.jsonl entry (a dict with `step`); the `SCALARS` present and each
        entry of `bucket_loss` become scalars "meta/<name>" and "bucket_loss/<i>"; the
        `VALIDATION_SCALARS` present "validation/<name>", and each entry of a
        `VALIDATION_GROUPS` dict "validation/<group>/<key>".
    """
    if self._writer is None:
      return
    for name in SCALARS:
      if name in row:
        self._writer.add_scalar(f"meta/{name}", float(row[name]), row["step"])
    for name in VALIDATION_SCALARS:
      if name in row:
        self._writer.add_scalar(f"validation/{name}", float(row[name]), row["step"])
    for group in VALIDATION_GROUPS:
      for key, value in row.get(group, {}).items():
        self._writer.add_scalar(f"validation/{group}/{key}", float(value), row["step"])
    for i, loss in enumerate(row.get("bucket_loss", ())):
      self._writer.add_scalar(f"bucket_loss/{i}", float(loss), row["step"])

  def close(self) -> None:
    """Flush and close the event file (nothing when disabled)."""
    if self._writer is not None:
      self._writer.close()


def smooth(values, window: int) -> np.ndarray:
  """Trailing moving average over at most `window` values (shorter at the start).

  Args:
    values: [N] numbers.
    window: the number of values averaged, >= 1.

  Returns:
    [N] float64.
  """
  v = np.asarray(values, dtype=np.float64)
  c = np.cumsum(np.insert(v, 0, 0.0))
  idx = np.arange(1, len(v) + 1)
  lo = np.maximum(idx - window, 0)
  return (c[idx] - c[lo]) / (idx - lo)


def write_curves(history: list[dict], workdir) -> None:
  """WORKDIR/curves.png at the end of a run (the figure is closed, not shown); nothing for
  a run without steps.

  Args:
    history: metrics.jsonl rows.
    workdir: the run's folder.
  """
  if not history:
    return
  import matplotlib.pyplot as plt

  plt.close(plot_curves(history, pathlib.Path(workdir) / CURVES_FILE))


def plot_curves(history: list[dict], path=None, title: str = ""):
  """Meta-loss and query accuracy against meta-step (raw and a moving average over about 5%
  of the run), and a third panel with the validation curve when rows have one
  (`plot_validation`). Saves a PNG at `path` if given; returns the matplotlib figure
  (shown inline in a notebook).

  Args:
    history: metrics.jsonl rows, each with step, meta_loss and query_accuracy (and
      val_accuracy, val_accuracy_by_steps, val_accuracy_random_init on validation rows).
    path: optional PNG file to write (110 dpi).
    title: optional figure title.

  Returns:
    The matplotlib figure.

  Raises:
    ValueError: history is empty.
  """
  if not history:
    raise ValueError("no meta-steps to plot: the run has not logged any step yet")
  import matplotlib.pyplot as plt

  steps = np.array([r["step"] for r in history])
  window = max(1, len(history) // 20)
  validation = [r for r in history if "val_accuracy" in r]
  fig, axes = plt.subplots(1, 3 if validation else 2, figsize=(15 if validation else 10, 3.4))
  for ax, name, label in (
    (axes[0], "meta_loss", "meta-loss"),
    (axes[1], "query_accuracy", "query accuracy (family's own tasks)"),
  ):
    values = np.array([r[name] for r in history], dtype=np.float64)
    ax.plot(steps, values, color="tab:blue", alpha=0.3, lw=0.8, label="per step")
    ax.plot(steps, smooth(values, window), color="tab:blue", lw=1.8, label=f"mean of last {window}")
    ax.set_xlabel("meta-step")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  if validation:
    plot_validation(validation, axes[2])
    axes[2].set_xlim(axes[0].get_xlim())  # rows every N steps, on the same meta-step axis
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  if path is not None:
    fig.savefig(path, dpi=110)
  return fig


def plot_validation(rows: list[dict], ax) -> None:
  """The validation curve on `ax`: accuracy of the fixed validation tasks at each of their
  inner-step counts against meta-step, and random init's as a dashed line.

  Args:
    rows: the metrics rows that have val_accuracy (with val_accuracy_by_steps and
      val_accuracy_random_init).
    ax: a matplotlib axes.
  """
  steps = [r["step"] for r in rows]
  counts = list(rows[0]["val_accuracy_by_steps"])
  for i, n in enumerate(counts):
    ax.plot(
      steps,
      [r["val_accuracy_by_steps"][n] for r in rows],
      marker="o",
      ms=3,
      color="tab:green",
      alpha=0.4 + 0.6 * (i + 1) / len(counts),
      label=f"rule, {n} inner steps",
    )
  ax.axhline(rows[-1]["val_accuracy_random_init"], color="gray", ls="--", lw=1, label="random init")
  ax.set_xlabel("meta-step")
  ax.set_ylabel("validation accuracy (fixed tasks)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
