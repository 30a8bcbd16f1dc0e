"""The `LocalRule` protocol is checked, not only described: `local_rule.register` is typed so
that mypy (`make lint`) reports a rule class that is no `LocalRule` (no `update`, or one of
another signature) at its decorator, and `check_rule` refuses such a rule at run time.
`make lint` checks the package's own rules; this checks that the check bites."""

import dataclasses
import pathlib
import re
import subprocess
import sys

import pytest

from metaunsup import local_rule

ROOT = pathlib.Path(__file__).resolve().parents[1]

RULES = '''
import dataclasses

from metaunsup import local_rule


@local_rule.register("typing_good")
@dataclasses.dataclass(frozen=True)
class Good(local_rule.LocalRuleBase):
  lr: float = 0.1

  def update(self, theta, params, acts):
    return params


@local_rule.register("typing_no_update")
@dataclasses.dataclass(frozen=True)
class NoUpdate(local_rule.LocalRuleBase):
  lr: float = 0.1


@local_rule.register("typing_two_arguments")
@dataclasses.dataclass(frozen=True)
class TwoArguments(local_rule.LocalRuleBase):
  def update(self, theta, params):
    return params
'''


def test_mypy_reports_a_registered_rule_that_is_no_local_rule(tmp_path):
  path = tmp_path / "rules.py"
  path.write_text(RULES)
  # From the repository root, so that mypy reads this checkout's package; with the
  # project's config and its cache (warm after `make lint`).
  run = subprocess.run(
    [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", str(path)],
    cwd=ROOT,
    capture_output=True,
    text=True,
  )
  errors = [int(n) for n in re.findall(r"rules\.py:(\d+): error:", run.stdout)]
  # One error for each bad class, at its decorator or its class line (as mypy reports it).
  lines = RULES.splitlines()
  for name in ("NoUpdate", "TwoArguments"):
    end = lines.index(f"class {name}(local_rule.LocalRuleBase):") + 1
    start = end - 2  # the register decorator, two lines above
    assert sum(start <= n <= end for n in errors) == 1, (name, run.stdout + run.stderr)
  assert len(errors) == 2 and run.returncode == 1, run.stdout + run.stderr


def test_check_rule_refuses_a_registered_rule_without_update():
  @dataclasses.dataclass(frozen=True)
  class NoUpdate(local_rule.LocalRuleBase):
    lr: float = 0.1

  # Registered (tests are not type-checked), yet no LocalRule: LocalRuleBase has no update.
  local_rule.register("typing_runtime_no_update")(NoUpdate)
  try:
    with pytest.raises(TypeError, match="with init_theta and update"):
      local_rule.check_rule(NoUpdate())
  finally:
    local_rule.RULES.remove("typing_runtime_no_update")
