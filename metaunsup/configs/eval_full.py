"""The full evaluation (`make evaluate`, `--config=eval_full`, the evaluation CLI's default):
the paper's protocol on held-out data. Its fields and their meaning:
metaunsup/evaluation/default_config.py, beside the code that reads it."""

from metaunsup.evaluation.default_config import get_config  # noqa: F401
