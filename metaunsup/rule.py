"""Deprecated: the learned rule moved to `metaunsup.rules.learned` (issue 36), and
`RuleConfig` is `LearnedRule`. This module re-exports it for code written before."""

from metaunsup import deprecation
from metaunsup.rules.learned import *  # noqa: F403
from metaunsup.rules.learned import LearnedRule
from metaunsup.rules.learned import __all__ as _learned_names
from metaunsup.rules.learned.competition import PAIRWISE_RANK_MAX as _PAIRWISE_RANK_MAX
from metaunsup.rules.learned.competition import midrank as _midrank
from metaunsup.rules.learned.norms import bn_batch as _bn_batch
from metaunsup.rules.learned.norms import centred_norm_relu as _centred_norm_relu
from metaunsup.rules.learned.norms import rms_normalize as _rms_normalize

__all__ = list(_learned_names)
# The private names tests and scripts used before the move.
_PRIVATE = (_PAIRWISE_RANK_MAX, _midrank, _bn_batch, _centred_norm_relu, _rms_normalize)

deprecation.moved(__name__, "metaunsup.rules.learned (RuleConfig is LearnedRule)")
__getattr__ = deprecation.renamed(
  __name__, {"RuleConfig": ("metaunsup.rules.LearnedRule", LearnedRule)}
)
