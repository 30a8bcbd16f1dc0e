"""The rule shipped inside the package: loadable by name, described by its provenance, and
present in a non-editable install built from the repository's files."""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import metaunsup
from metaunsup import configs, local_rule, pretrained
from metaunsup.rules import learned

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_load_rule_pretrained_is_the_shipped_file():
  shipped = metaunsup.load_rule("pretrained")
  same = metaunsup.pretrained_rule()
  by_name = metaunsup.load_rule(f"pretrained:{pretrained.DEFAULT}")
  learned.check_theta(shipped.theta, shipped.config)
  for other in (same, by_name):
    np.testing.assert_array_equal(shipped.theta["mix"], other.theta["mix"])
  assert shipped.meta["meta_steps"] == pretrained.provenance()["meta_steps"]


def test_every_shipped_rule_loads_by_name_and_matches_its_provenance():
  # The earlier single-data-set rule stays loadable, to reproduce the numbers quoted for it.
  assert {pretrained.DEFAULT, "fmnist_relu"} <= set(pretrained.names())
  for name in pretrained.names():
    r = metaunsup.load_rule(f"pretrained:{name}")
    learned.check_theta(r.theta, r.config)
    assert r.meta["meta_steps"] == pretrained.provenance(name)["meta_steps"], name
    assert _sha(ROOT / pretrained.provenance(name)["source"]) == _sha(pretrained.path(name))
  assert not np.array_equal(
    metaunsup.load_rule("pretrained").theta["mix"],
    metaunsup.load_rule("pretrained:fmnist_relu").theta["mix"],
  )


def test_unknown_pretrained_name_lists_the_shipped_ones():
  with pytest.raises(FileNotFoundError, match=pretrained.DEFAULT):
    metaunsup.load_rule("pretrained:nope")


def test_provenance_matches_the_run_it_names():
  prov = pretrained.provenance()
  for key in (
    "config",
    "commit",
    "meta_steps",
    "hardware",
    "hours",
    "eval_train_py",
    "eval_baselines",
    "note",
  ):
    assert key in prov, key
  source = ROOT / prov["source"]
  assert _sha(source) == _sha(pretrained.path()), "shipped rule differs from its source run"
  run = source.parent
  assert prov["config"] == json.loads((run / "config.json").read_text())
  summary = json.loads((run / "summary.json").read_text())
  assert prov["eval_train_py"]["datasets"]["mnist"]["fewshot_acc_rule"] == round(
    summary["eval"]["mnist"]["fewshot_acc_rule"], 4
  )


@pytest.mark.slow
def test_non_editable_install_contains_the_rule(tmp_path):
  """pip install (not -e) of the repository's files, as from a clean clone, into a target
  folder; then load_rule("pretrained") and the packaged configs from there in fresh
  processes outside the repo.
  About 15 s (a setuptools build plus one import of jax): the only check that the
  package-data declaration really ships the file."""
  files = subprocess.run(
    ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=True,
  ).stdout.split()
  clone = tmp_path / "clone"
  for f in files:
    if (ROOT / f).is_file():
      (clone / f).parent.mkdir(parents=True, exist_ok=True)
      (clone / f).write_bytes((ROOT / f).read_bytes())
  target = tmp_path / "site"
  subprocess.run(
    [
      sys.executable,
      "-m",
      "pip",
      "install",
      "--quiet",
      "--no-deps",
      "--no-build-isolation",
      "--target",
      str(target),
      str(clone),
    ],
    check=True,
    capture_output=True,
  )
  shipped = target / "metaunsup" / "pretrained" / f"{pretrained.DEFAULT}.msgpack"
  assert shipped.is_file() and (shipped.parent / "provenance.json").is_file()
  env = {**os.environ, "PYTHONPATH": str(target)}
  out = subprocess.run(
    [
      sys.executable,
      "-c",
      "import metaunsup; r = metaunsup.load_rule('pretrained'); "
      "print(metaunsup.__file__, r.meta['meta_steps'])",
    ],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    check=True,
  ).stdout
  assert out.startswith(str(target))
  assert out.split()[-1] == str(pretrained.provenance()["meta_steps"])
  # The configs the CLIs name (--config=default, eval_full, ...) are in the install and
  # build there, without the repository's experiments/ folder.
  code = (
    "import importlib, importlib.util; from metaunsup import configs; "
    "assert importlib.util.find_spec('experiments') is None; "
    "names = configs.TRAIN + configs.EVALUATION; "
    "[importlib.import_module(f'metaunsup.configs.{n}').get_config() for n in names]; "
    "print(*(configs.path(n) for n in names))"
  )
  paths = subprocess.run(
    [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
  ).stdout.split()
  assert len(paths) == len(configs.TRAIN + configs.EVALUATION) and all(
    p.startswith(str(target / "metaunsup" / "configs")) for p in paths
  ), paths
  # The rule kinds' entry points and the zoo's swept step sizes (package data) are in the
  # install: a kind looked up with the interface alone loads its rule.
  code = (
    "import sys; from metaunsup import local_rule; "
    "assert 'metaunsup.rules' not in sys.modules; "
    "print(local_rule.rule_class('compact')().term_scales[0], len(local_rule.kinds()))"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
  ).stdout.split()
  assert out == ["0.5", str(len(local_rule.kinds()))]


def _sha(path) -> str:
  return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
