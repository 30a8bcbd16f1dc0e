"""Hand-designed local rules (`local_rule.LocalRule`s), one per file, each with its term
record (`record.Term`, ordered by `terms`): "oja" (Oja 1989, the subspace rule), "sanger"
(Sanger 1989; Oja's subspace rule as its option), "competitive" (online k-means, hard or
soft) and "soft_competitive" (the soft one), "krotov_hopfield" (Krotov & Hopfield 2019),
"softhebb" (Moraitis et al. 2022) and "bcm" (Bienenstock, Cooper & Munro 1982). Importing
this package registers them all."""

from metaunsup import submodules
from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, oja, sanger, softhebb, terms
from metaunsup.rules.zoo.bcm import BCM
from metaunsup.rules.zoo.competitive import Competitive, SoftCompetitive
from metaunsup.rules.zoo.krotov_hopfield import KrotovHopfield
from metaunsup.rules.zoo.oja import Oja
from metaunsup.rules.zoo.sanger import Sanger
from metaunsup.rules.zoo.softhebb import SoftHebb

__all__ = [
  "BCM",
  "Competitive",
  "KrotovHopfield",
  "Oja",
  "Sanger",
  "SoftCompetitive",
  "SoftHebb",
  "bcm",
  "competitive",
  "krotov_hopfield",
  "oja",
  "sanger",
  "softhebb",
  "terms",
]

__getattr__ = submodules.loader(__name__)
