"""Markdown tables of a meta-training run's summary.json (`report.run_summary`): its held-out
check, the rule against random init, paired over seeds; the study READMEs quote them.

  .venv/bin/python -m experiments.shared.run_summary runs/default
"""

import pathlib
import sys

from metaunsup.evaluation import report

if __name__ == "__main__":
  try:
    print(report.run_summary(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/default")))
  except (ValueError, FileNotFoundError) as e:  # a missing or damaged summary.json
    sys.exit(f"error: {e}")
