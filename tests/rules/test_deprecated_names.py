"""The rules' import paths and class names from before issue 36 still work, each with a
DeprecationWarning naming the new one, and give the very same objects (one class per
rule, so a rule made from an old name is the registered one)."""

import subprocess
import sys
import textwrap

CODE = """
import warnings
with warnings.catch_warnings(record=True) as caught:
  warnings.simplefilter("always")
  from metaunsup import rule, compact_rule
  from metaunsup.baselines.oja import OjaConfig
  from metaunsup.zoo import krotov_hopfield
  import metaunsup.zoo.terms
  RuleConfig = rule.RuleConfig
from metaunsup import local_rule, rules
import metaunsup.rules.zoo.krotov_hopfield as kh
assert RuleConfig is rules.LearnedRule and OjaConfig is rules.Oja
assert compact_rule is rules.compact and krotov_hopfield is kh
assert metaunsup.zoo.terms is rules.zoo.terms
assert rule.init_theta is rules.learned.init_theta
assert rule._bn_batch is rules.learned.norms.bn_batch
local_rule.check_rule(RuleConfig())
local_rule.check_rule(OjaConfig())
for w in caught:
  assert w.category is DeprecationWarning, w
  print(str(w.message))
"""


def test_old_names_warn_and_are_the_new_objects():
  out = subprocess.run(
    [sys.executable, "-c", textwrap.dedent(CODE)], capture_output=True, text=True, timeout=300
  )
  assert out.returncode == 0, out.stderr[-3000:]
  messages = out.stdout.strip().splitlines()
  for old, new in [
    ("metaunsup.rule is deprecated", "metaunsup.rules.learned"),
    ("metaunsup.compact_rule is deprecated", "metaunsup.rules.compact"),
    ("metaunsup.baselines.oja is deprecated", "metaunsup.rules.zoo.oja"),
    ("metaunsup.baselines.oja.OjaConfig is deprecated", "metaunsup.rules.Oja"),
    ("metaunsup.zoo is deprecated", "metaunsup.rules.zoo"),
    ("metaunsup.rule.RuleConfig is deprecated", "metaunsup.rules.LearnedRule"),
  ]:
    assert any(m.startswith(old) and new in m for m in messages), (old, messages)
