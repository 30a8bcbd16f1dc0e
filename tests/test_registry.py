"""The generic registry (metaunsup/registry.py) that rule kinds, estimators and evaluation
methods share: names, conflicts, order, and entry points of installed distributions."""

import sys

import pytest

from metaunsup import estimators, local_rule, registry
from metaunsup.evaluation import methods


def test_names_conflicts_and_order():
  r = registry.Registry("widget")
  r.add("b", int)
  r.add("a", str)
  r.add("b", int)  # the same object again (a reloaded module): fine
  assert r.names() == ("b", "a") and list(r) == ["b", "a"] and "a" in r
  assert r.get("a") is str and r.get("missing") is None
  with pytest.raises(ValueError, match="widget 'b' is already registered"):
    r.add("b", float)
  for bad in ("", "a-b", "local:x", "a b"):
    with pytest.raises(ValueError, match="widget .* must be letters, digits and underscores"):
      r.add(bad, int)


def test_the_package_registries_are_one_class():
  assert isinstance(local_rule.RULES, registry.Registry)
  assert isinstance(estimators.ESTIMATORS, registry.Registry)
  assert isinstance(methods.METHODS, registry.Registry)
  assert set(estimators.names()) >= {"truncated_bptt", "pes", "es", "es_single"}
  assert methods.names()[:2] == ("rule", "random_init")


def _distribution(site, entry_points: str, module: str, source: str):
  """An installed distribution as importlib.metadata reads one: a .dist-info folder with its
  entry points, and the module they name, under `site` (on sys.path)."""
  info = site / "widgets_pkg-1.0.dist-info"
  info.mkdir(parents=True)
  (info / "METADATA").write_text("Metadata-Version: 2.1\nName: widgets-pkg\nVersion: 1.0\n")
  (info / "entry_points.txt").write_text(entry_points)
  (site / f"{module}.py").write_text(source)


def test_entry_points_load_on_first_lookup_and_report_failures(tmp_path, monkeypatch):
  _distribution(
    tmp_path,
    "[test.widgets]\nround = widget_mod:Round\nbroken = widget_mod_missing:Nope\n",
    "widget_mod",
    "class Round:\n  pass\n",
  )
  monkeypatch.syspath_prepend(str(tmp_path))
  adopted = []
  r = registry.Registry(
    "widget",
    entry_point_group="test.widgets",
    adopt=lambda name, obj: (adopted.append(name), r.add(name, obj)),
  )
  assert r.names() == () and r.names(installed=True) == ("broken", "round")
  assert "widget_mod" not in sys.modules
  assert r.get("round").__name__ == "Round" and adopted == ["round"]
  with pytest.raises(
    ValueError, match="widget 'broken': its entry point 'widget_mod_missing:Nope'"
  ):
    r.get("broken")
