"""What the conv tests share (tests/conv/ is on sys.path for them: pytest puts a test file's
folder there when the folder has no __init__.py): one zoo rule per term, at step sizes where
each moves a small network visibly in a few steps, and the compact rule at a random mix of
every term."""

import jax

from metaunsup.rules.compact import CompactRule
from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, oja, sanger, softhebb, terms

ZOO_RULES = (
  oja.Oja(lr=0.3),
  sanger.Sanger(lr=0.01),
  competitive.Competitive(lr=0.01),
  competitive.SoftCompetitive(lr=0.002, temperature=0.05),
  krotov_hopfield.KrotovHopfield(lr=0.02),
  softhebb.SoftHebb(lr=0.2, inverse_temperature=40.0),
  bcm.BCM(lr=0.03),
)
assert {terms.from_rule(r)[0] for r in ZOO_RULES} == set(terms.TERMS)  # every term once

COMPACT = CompactRule()


def compact_theta(rule: CompactRule = COMPACT, seed: int = 0) -> dict:
  """A random theta of `rule`: every term on (init_theta's mix), and where the rule has a
  learned schedule, a random one (so the step's time matters)."""
  k_theta, k_schedule = jax.random.split(jax.random.PRNGKey(seed))
  theta = rule.init_theta(k_theta)
  if "schedule" in theta:
    theta["schedule"] = 0.3 * jax.random.normal(k_schedule, theta["schedule"].shape)
  return theta
