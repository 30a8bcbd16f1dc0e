"""A rule of another installed package is found by its kind through the entry-point group
"metaunsup.rules", with no import of that package: a rule file written with it loads in a
process that never imported it (issue 36)."""

import os
import subprocess
import sys
import textwrap

import pytest

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "gain-rule"
version = "0.1"

[project.entry-points."metaunsup.rules"]
gain_decay = "gain_rule.rule:GainDecay"
plain_decay = "gain_rule.rule:PlainDecay"
broken = "gain_rule.missing:Nope"

[tool.setuptools]
packages = ["gain_rule"]
"""

RULE = """\
import dataclasses

import jax.numpy as jnp

from metaunsup import local_rule


@local_rule.register("gain_decay")
@dataclasses.dataclass(frozen=True)
class GainDecay(local_rule.LocalRuleBase):
  rate: float = 0.1

  def init_theta(self, key):
    return {"gain": jnp.ones(())}

  def update(self, theta, params, acts):
    return params.replace(W=[w * (1 - self.rate * theta["gain"]) for w in params.W])


# Declared as an entry point but not decorated: registered under the entry point's name.
@dataclasses.dataclass(frozen=True)
class PlainDecay(local_rule.LocalRuleBase):
  def update(self, theta, params, acts):
    return params.replace(W=[0.5 * w for w in params.W])
"""


def _python(code: str, env) -> str:
  out = subprocess.run(
    [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True
  )
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


@pytest.mark.slow
def test_a_rule_of_another_package_loads_by_kind_without_an_import(tmp_path):
  """About 20 s: a setuptools build of the tiny package and three fresh interpreters."""
  src = tmp_path / "src"
  (src / "gain_rule").mkdir(parents=True)
  (src / "pyproject.toml").write_text(PYPROJECT)
  (src / "gain_rule" / "__init__.py").write_text("")
  (src / "gain_rule" / "rule.py").write_text(RULE)
  site = tmp_path / "site"
  subprocess.run(
    [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    + ["--target", str(site), str(src)],
    check=True,
    capture_output=True,
  )
  path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
  env = {**os.environ, "PYTHONPATH": path}
  rule_file = tmp_path / "gain.msgpack"
  _python(
    f"""
    import jax, metaunsup
    from gain_rule.rule import GainDecay
    rule = GainDecay(rate=0.25)
    theta = rule.init_theta(jax.random.PRNGKey(0))
    metaunsup.Rule(theta=theta, config=rule).save({str(rule_file)!r})
    """,
    env,
  )
  out = _python(
    f"""
    import sys
    import numpy as np
    import metaunsup
    from metaunsup import local_rule
    assert "gain_rule" not in sys.modules
    assert {{"gain_decay", "plain_decay", "learned"}} <= set(local_rule.kinds())
    r = metaunsup.load_rule({str(rule_file)!r})
    print(type(r.config).__module__, r.config.rate, float(r.theta["gain"]))
    plain = local_rule.rule_class("plain_decay")
    local_rule.check_rule(plain())
    print(plain.kind)
    x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    model = metaunsup.apply_rule(r, x, widths=(4,), steps=2, batch_size=32)
    print(np.isfinite(np.asarray(model.features(x))).all())
    """,
    env,
  )
  assert out.split() == ["gain_rule.rule", "0.25", "1.0", "plain_decay", "True"]
  # An entry point that does not load is a one-line error naming it.
  out = subprocess.run(
    [sys.executable, "-c", "from metaunsup import local_rule; local_rule.rule_class('broken')"],
    env=env,
    capture_output=True,
    text=True,
  )
  last = out.stderr.strip().splitlines()[-1]
  assert (
    out.returncode == 1 and "'gain_rule.missing:Nope'" in last and "ModuleNotFoundError" in last
  )
