"""The compact rule (`metaunsup.rules.compact`: a learned mix of the zoo's updates, tens of
meta-parameters) meta-trained by PES (antithetic, forward-only) on the default task family,
warm-started at Krotov-Hopfield (the strongest hand-designed rule held out,
experiments/zoo/results/) at the lr the zoo sweep chose on meta-training data. PES is
forward-only, so tasks can live 10x longer than the learned rule's (100-3000 inner steps,
against 30-300): the rule is scored where the evaluation reads it (10^2 to 10^4 steps)."""

from metaunsup.configs import default


def get_config():
  """`--config=compact`.

  Returns:
    A fresh ml_collections.ConfigDict: the default one with the compact rule, ES and the
    longer tasks above.
  """
  c = default.get_config()
  c.rule = dict(kind="compact", l1=0.0)
  c.inner.truncation_lengths = (20,)
  c.inner.min_total_steps, c.inner.max_total_steps = 100, 3000
  # Forward-only steps after each scored truncation: tasks age 100 steps a meta-step.
  c.inner.advance_steps = 80
  # PES: unbiased over the whole life of a task however short the truncation (ES, like
  # truncated BPTT, would score only 20 steps of the rule at a time).
  c.meta.estimator, c.meta.es_sigma, c.meta.es_pairs, c.meta.es_clip = "pes", 0.1, 2, 1.0
  c.meta.learning_rate = 0.01
  c.meta.steps, c.meta.checkpoint_every = 300, 25
  c.meta.init_rule = "zoo:krotov_hopfield:lr=0.006666666666666666"
  c.eval.inner_steps = 3000
  c.validation.every, c.validation.inner_steps = 25, (300, 3000)
  return c
