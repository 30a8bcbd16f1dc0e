"""Deprecated: Oja's rule moved to `metaunsup.rules.zoo.oja` (issue 36), and `OjaConfig` is
`Oja`. This module re-exports it for code written before."""

from metaunsup import deprecation
from metaunsup.rules.zoo.oja import EPS, TERM, Oja, oja_increment, oja_step

__all__ = ["EPS", "Oja", "TERM", "oja_increment", "oja_step"]

deprecation.moved(__name__, "metaunsup.rules.zoo.oja (OjaConfig is Oja)")
__getattr__ = deprecation.renamed(__name__, {"OjaConfig": ("metaunsup.rules.Oja", Oja)})
