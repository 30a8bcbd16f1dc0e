"""Deprecated: the default meta-training config moved to `metaunsup.configs.default`
(issue 36: the packaged configs hold the defaults); this name is that module."""

import sys

from metaunsup import deprecation
from metaunsup.configs import default

deprecation.moved(__name__, "metaunsup.configs.default")
sys.modules[__name__] = default
