"""Deprecated: the zoo moved to `metaunsup.rules.zoo` (issue 36); `metaunsup.zoo` and its
modules are those of `metaunsup.rules.zoo`, kept for code written before (the same module
objects, so each rule class exists once)."""

import sys

from metaunsup import deprecation
from metaunsup.rules import zoo

deprecation.moved(__name__, "metaunsup.rules.zoo")
for _name in (
  "bcm",
  "competitive",
  "krotov_hopfield",
  "oja",
  "record",
  "sanger",
  "softhebb",
  "terms",
):
  sys.modules[f"{__name__}.{_name}"] = sys.modules[f"metaunsup.rules.zoo.{_name}"]
sys.modules[__name__] = zoo
