"""Deprecated: the evaluation's default config moved to `metaunsup.configs.eval_full`, and
`complete` to `metaunsup.evaluation.config_checks` (issue 36: the packaged configs hold the
defaults). This module re-exports both."""

from metaunsup import deprecation
from metaunsup.configs.eval_full import get_config
from metaunsup.evaluation.config_checks import complete

__all__ = ["complete", "get_config"]

deprecation.moved(
  __name__, "metaunsup.configs.eval_full (complete: metaunsup.evaluation.config_checks)"
)
