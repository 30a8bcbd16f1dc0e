"""Hand-designed local rules (`local_rule.LocalRule`s), one per file; importing this package
registers them all: "sanger" (Sanger 1989; Oja's subspace rule as its option),
"competitive" (online k-means, hard or soft) and "soft_competitive" (the soft one),
"krotov_hopfield" (Krotov & Hopfield 2019), "softhebb" (Moraitis et al. 2022) and "bcm"
(Bienenstock, Cooper & Munro 1982)."""

from metaunsup.zoo import bcm, competitive, krotov_hopfield, sanger, softhebb  # noqa: F401
