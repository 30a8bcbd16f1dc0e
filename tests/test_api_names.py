"""Names wherever a config or a rule is taken from Python (issue 39): `train_rule("compact")`,
`metaunsup.evaluate(config="eval_quick")`, `apply_rule("pretrained:NAME", ...)`, an unknown
name refused in one line that lists the known ones; and every `metaunsup.X.Y` the README and
the notebooks use resolves after a plain `import metaunsup`."""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import metaunsup
from metaunsup import configs, pretrained, train
from metaunsup.evaluation import pipeline

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_train_rule_takes_a_packaged_config_by_name(monkeypatch, tmp_path):
  seen = {}

  def fake_run(config, workdir):  # stands in for meta-training: only the config is checked
    seen["config"] = config
    return None, [], workdir

  monkeypatch.setattr(train, "train_and_evaluate", fake_run)
  metaunsup.train_rule("compact", tmp_path, meta={"steps": 3})
  want = configs.load("compact")
  want.meta.steps = 3
  assert seen["config"].to_dict() == want.to_dict()
  assert want.rule.kind == "compact"
  for bad, words in [("eval_quick", "an evaluation config"), ("compcat", "unknown config")]:
    with pytest.raises(ValueError, match=words) as e:
      metaunsup.train_rule(bad, tmp_path)
    assert "\n" not in str(e.value) and "smoke" in str(e.value)


def test_evaluate_takes_a_packaged_config_by_name(monkeypatch, tmp_path):
  seen = {}
  monkeypatch.setattr(pipeline, "run", lambda rule, config, out: seen.update(locals()) or {})
  metaunsup.evaluate("pretrained", "eval_quick", tmp_path, num_seeds=1)
  want = configs.load("eval_quick")
  want.num_seeds = 1
  assert seen["config"].to_dict() == want.to_dict() and seen["rule"] == "pretrained"
  with pytest.raises(ValueError, match="a meta-training config"):
    metaunsup.evaluate(config="smoke")
  with pytest.raises(ValueError, match="unknown config field 'num_seed'"):
    metaunsup.evaluate(config="eval_quick", num_seed=1)


def test_apply_rule_takes_a_rule_by_name():
  x = np.random.default_rng(0).normal(size=(64, 12)).astype(np.float32)
  by_name = metaunsup.apply_rule(f"pretrained:{pretrained.DEFAULT}", x, widths=(8,), steps=3)
  loaded = metaunsup.apply_rule(metaunsup.load_rule("pretrained"), x, widths=(8,), steps=3)
  np.testing.assert_array_equal(by_name.features(x), loaded.features(x))
  with pytest.raises(FileNotFoundError, match="no shipped rule 'nope'; the package has"):
    metaunsup.apply_rule("pretrained:nope", x, steps=1)


def _documented_names() -> list[str]:
  """metaunsup.X.Y names in the README, the notebooks' twins and the package docstring."""
  texts = [ROOT / "README.md", *sorted((ROOT / "experiments").glob("shared/notebooks/*.py"))]
  text = "\n".join(p.read_text() for p in texts) + (metaunsup.__doc__ or "")
  return sorted(set(re.findall(r"(?<![\w/.-])metaunsup(?:\.[A-Za-z_]\w*)+", text)))


def test_every_documented_name_resolves_after_a_plain_import():
  names = _documented_names()
  assert "metaunsup.pretrained.provenance" in names and len(names) >= 10, names
  code = (
    "import functools, metaunsup, sys\n"
    "bad = []\n"
    "for name in sys.argv[1:]:\n"
    "  try:\n"
    "    functools.reduce(getattr, name.split('.')[1:], metaunsup)\n"
    "  except AttributeError as e:\n"
    "    bad.append(f'{name}: {e}')\n"
    "print('\\n'.join(bad))\n"
  )
  out = subprocess.run(
    [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code, *names],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr[-2000:]
