"""PNG figures of an evaluation: accuracy against inner steps per method, accuracy against
labels per class, the generalisation sweeps, and first-layer receptive fields (paper Fig. 6).
Error bars are standard errors over seeds."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from metaunsup.evaluation import methods as methods_lib  # noqa: E402
from metaunsup.evaluation import report  # noqa: E402
from metaunsup.evaluation.report import name  # noqa: E402
from metaunsup.evaluation.stats import mean_sem  # noqa: E402
from metaunsup.evaluation.sweeps import SWEEP_KINDS  # noqa: E402

# Colours for methods that register none (or that this process does not know), in order.
SPARE_COLORS = ("C6", "C7", "C8", "C9", "k", "y", "m", "c")


def colors(method_names) -> dict:
  """A colour per method: the registered one (`methods.Method.color`), else the next spare.

  Args:
    method_names: the methods of one figure, in order.

  Returns:
    {method: matplotlib colour}.
  """
  out, spare = {}, iter(SPARE_COLORS * (1 + len(method_names) // len(SPARE_COLORS)))
  for m in method_names:
    registered = m in methods_lib.names() and methods_lib.get(m).color
    out[m] = registered or next(spare)
  return out


def _grid(n: int, size=(4.2, 3.3)):
  cols = min(n, 4)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
  for ax in axes.flat[n:]:
    ax.axis("off")
  return fig, list(axes.flat[:n])


def _save(fig, path: pathlib.Path) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _mean_sem(values: dict) -> tuple[float, float]:
  mean, sem = mean_sem(list(values.values())) if values else (np.nan, np.nan)
  return mean, (0.0 if not np.isfinite(sem) else sem)


def curves(results: dict, path: pathlib.Path) -> None:
  """Accuracy against inner steps, one panel per data set (paper Fig. 4): the curve methods
  at every checkpoint, the others as flat bands.

  Args:
    results: an evaluation's results (results.json, `pipeline.run`).
    path: the PNG file to write.
  """
  shots, head = report.headline_shots(results), results["config"]["heads"][0]
  steps = sorted(results["config"]["checkpoints"])
  methods = report._methods(results)
  color = colors(methods)
  fig, axes = _grid(len(results["config"]["datasets"]))
  for ax, ds in zip(axes, results["config"]["datasets"]):
    for m in methods:
      if methods_lib.is_curve(m):
        ms = [_mean_sem(report.per_seed(results, ds, m, shots, head, s)) for s in steps]
        ax.errorbar(
          steps,
          [a for a, _ in ms],
          yerr=[e for _, e in ms],
          marker="o",
          ms=3,
          capsize=2,
          color=color[m],
          label=name(m),
        )
      else:
        mean, sem = _mean_sem(report.per_seed(results, ds, m, shots, head))
        ax.axhline(mean, color=color[m], ls="--", lw=1, label=name(m))
        ax.axhspan(mean - sem, mean + sem, color=color[m], alpha=0.15, lw=0)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(-1, 1.5 * max(steps))  # symlog would otherwise show negative steps
    ax.set_xlabel("unsupervised inner steps")
    ax.set_ylabel(f"test accuracy ({shots}/class, {head})")
    ax.set_title(ds)
  axes[0].legend(fontsize=7)
  _save(fig, path)


def shots_plot(results: dict, path: pathlib.Path) -> None:
  """Accuracy against labelled examples per class, one panel per data set.

  Args:
    results: an evaluation's results.
    path: the PNG file to write.
  """
  shots, head = results["config"]["shots"], results["config"]["heads"][0]
  color = colors(report._methods(results))
  fig, axes = _grid(len(results["config"]["datasets"]))
  for ax, ds in zip(axes, results["config"]["datasets"]):
    for m in report._methods(results):
      ms = [_mean_sem(report.per_seed(results, ds, m, s, head)) for s in shots]
      ax.errorbar(
        shots,
        [a for a, _ in ms],
        yerr=[e for _, e in ms],
        marker="o",
        ms=3,
        capsize=2,
        color=color[m],
        label=name(m),
      )
    ax.set_xscale("log")
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel(f"test accuracy ({head})")
    ax.set_title(f"{ds}, step {report.report_step(results, ds)}")
  axes[0].legend(fontsize=7)
  _save(fig, path)


def sweeps(results: dict, path: pathlib.Path) -> None:
  """The rule against random init over widths, depths and activations (paper Fig. 5).

  Args:
    results: an evaluation's results, with sweep records.
    path: the PNG file to write.
  """
  sw = results["config"]["sweep"]
  color = colors(("rule", "random_init"))
  fig, axes = _grid(3)
  for ax, kind in zip(axes, SWEEP_KINDS):
    values = list(sw[kind])
    xs = np.arange(len(values)) if kind == "activations" else np.asarray(values)
    for m in ("rule", "random_init"):
      ms = [
        _mean_sem(
          {
            r["seed"]: r["accuracy"]
            for r in results["sweep_records"]
            if r["sweep"] == kind and r["value"] == v and r["method"] == m
          }
        )
        for v in values
      ]
      ax.errorbar(
        xs,
        [a for a, _ in ms],
        yerr=[e for _, e in ms],
        marker="o",
        ms=3,
        capsize=2,
        color=color[m],
        label=name(m),
      )
    if kind == "widths":
      ax.set_xscale("log", base=2)
    if kind == "activations":
      ax.set_xticks(xs, values, rotation=30)
    ax.set_xlabel(
      {"widths": "hidden width", "depths": "hidden layers", "activations": "activation"}[kind]
    )
    ax.set_ylabel(f"test accuracy ({sw['shots']}/class, {sw['head']})")
    ax.set_title(f"{sw['dataset']}, {sw['steps']} inner steps")
  axes[0].legend(fontsize=7)
  _save(fig, path)


def receptive_fields(first_layers: dict, path: pathlib.Path, units: int = 16) -> None:
  """First-layer receptive fields (paper Fig. 6): one row per method, the weights of the
  first `units` units as images.

  Args:
    first_layers: {'dataset': spec, 'side': image side, method: [side * side, width]
      weights in the data's input order} (`pipeline.evaluate_all`).
    path: the PNG file to write.
    units: units shown per method.
  """
  side = int(first_layers["side"])
  # Random init first for comparison, then the rule, then the others in config order.
  methods = sorted(
    (m for m in first_layers if m not in ("dataset", "side")),
    key=lambda m: (m != "random_init", m != "rule"),
  )
  fig, axes = plt.subplots(
    len(methods), units, figsize=(units * 0.8, len(methods) * 0.95), squeeze=False
  )
  for row, m in zip(axes, methods):
    w = np.asarray(first_layers[m])
    for j, ax in enumerate(row):
      img = w[:, j].reshape(side, side) if j < w.shape[1] else np.zeros((side, side))
      lim = np.abs(img).max() + 1e-12
      ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
      ax.set_xticks([])
      ax.set_yticks([])
    row[0].set_ylabel(name(m), rotation=0, ha="right", va="center", fontsize=8)
  fig.suptitle(
    f"First-layer receptive fields, {first_layers['dataset']} "
    "(after the last checkpoint; random init for comparison)",
    fontsize=9,
  )
  _save(fig, path)


def write_all(results: dict, first_layers: dict, out: pathlib.Path) -> list[str]:
  """Every figure the results support.

  Args:
    results: an evaluation's results.
    first_layers: as for `receptive_fields`; empty: no receptive fields.
    out: the folder to write into.

  Returns:
    The file names written.
  """
  written = []
  for filename, fn in (("curves.png", curves), ("shots.png", shots_plot)):
    fn(results, out / filename)
    written.append(filename)
  if results["sweep_records"]:
    sweeps(results, out / "sweeps.png")
    written.append("sweeps.png")
  if first_layers:
    receptive_fields(first_layers, out / "receptive_fields.png")
    written.append("receptive_fields.png")
  return written
