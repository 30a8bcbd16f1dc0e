"""The learned rule with competition and the zoo's updates as terms (issue 29's first
design: `rules.LearnedRule(competition=True, zoo_terms=...)`), warm-started at Krotov-Hopfield
(at the lr the zoo sweep chose on meta-training data: theta_from gates the learned update
off, so meta-training starts at the strongest hand-designed rule and only has to improve
on it), by truncated BPTT on the default task family. Validated at 300 and 3000 inner
steps like `--config=compact`, so the two designs' curves compare."""

from metaunsup.configs import default
from metaunsup.rules.zoo import terms


def get_config():
  """`--config=learned_zoo`.

  Returns:
    A fresh ml_collections.ConfigDict: the default one with the rule above.
  """
  c = default.get_config()
  c.rule.update(
    dict(competition=True, zoo_terms=terms.TERMS, krotov_hopfield_p=3.0, krotov_hopfield_k=7)
  )
  c.meta.init_rule = "zoo:krotov_hopfield:lr=0.006666666666666666"
  c.meta.steps = 300
  c.eval.inner_steps = 3000
  c.validation.every, c.validation.inner_steps = 100, (300, 3000)
  return c
