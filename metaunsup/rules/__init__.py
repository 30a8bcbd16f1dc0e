"""The package's local rules, learned and hand-designed (`metaunsup.local_rule.LocalRule`);
importing this package registers them all:

- "learned": the paper's learned rule (Metz et al., ICLR 2019), `LearnedRule`, a package
  split by concern (`rules.learned`);
- "compact": a learned mix of the zoo's updates, `CompactRule` (`rules.compact`);
- the zoo of hand-designed rules, Oja's among them, each with its term record
  (`rules.zoo`).

The same classes are declared in the entry-point group "metaunsup.rules" (pyproject.toml), so
a lookup by kind finds them without this import, as it finds other packages' rules.
"""

from metaunsup import submodules
from metaunsup.rules import compact, learned, zoo
from metaunsup.rules.compact import CompactRule
from metaunsup.rules.learned import LearnedRule
from metaunsup.rules.zoo import (
  BCM,
  Competitive,
  KrotovHopfield,
  Oja,
  Sanger,
  SoftCompetitive,
  SoftHebb,
)

__all__ = [
  "BCM",
  "CompactRule",
  "Competitive",
  "KrotovHopfield",
  "LearnedRule",
  "Oja",
  "Sanger",
  "SoftCompetitive",
  "SoftHebb",
  "compact",
  "learned",
  "zoo",
]

__getattr__ = submodules.loader(__name__)
