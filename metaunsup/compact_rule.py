"""Deprecated: the compact rule moved to `metaunsup.rules.compact` (issue 36); this name is
that module, kept for code written before."""

import sys

from metaunsup import deprecation
from metaunsup.rules import compact

deprecation.moved(__name__, "metaunsup.rules.compact")
sys.modules[__name__] = compact
