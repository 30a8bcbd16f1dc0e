"""The kill tests' meta-training config (`--config=tests/kill_config.py`): metaunsup's smoke
config with the mechanism rule of tests/helpers.py (MECHANISM_RULE, one compact-rule term).
What is under test (saves, kills, resumes) does not depend on the rule, and this one's
programs compile several times faster than the learned rule's: the kill tests are timed."""

from metaunsup.configs import smoke


def get_config():
  c = smoke.get_config()
  c.rule = {"kind": "compact", "terms": ("oja",)}
  return c
