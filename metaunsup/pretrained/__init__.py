"""Rules shipped inside the package (package data), with their provenance.

`metaunsup.load_rule("pretrained")` or `metaunsup.pretrained_rule()` loads the default one,
"family" (the default task family's rule, `make meta-train`); `load_rule("pretrained:NAME")`
any other, e.g. "fmnist_relu" (the earlier single-data-set rule, kept to reproduce the
numbers quoted for it).
Each rule NAME is NAME.msgpack here, described in provenance.json (config, commit, meta-steps,
hardware, hours and its held-out evaluation), written by experiments/shared/make_pretrained.py.
"""

from __future__ import annotations

import json
import pathlib


DEFAULT = "family"


def _dir() -> pathlib.Path:
  return pathlib.Path(__file__).resolve().parent


def names() -> tuple[str, ...]:
  """The names of the rules shipped in the package (sorted), e.g. ("family", "fmnist_relu")."""
  return tuple(sorted(p.stem for p in _dir().glob("*.msgpack")))


def path(name: str = DEFAULT) -> pathlib.Path:
  """The rule file of a shipped rule.

  Args:
    name: a shipped rule's name (default `DEFAULT`, "family").

  Returns:
    The path of NAME.msgpack inside the installed package.

  Raises:
    FileNotFoundError: no shipped rule of that name (the message lists those there are), or
      the package was installed without its data files.
  """
  p = _dir() / f"{name}.msgpack"
  if not p.exists():
    have = names()
    raise FileNotFoundError(
      f"no shipped rule {name!r}; the package has {list(have)}"
      if have
      else f"the package at {_dir().parent} was installed without its pretrained rules; "
      "reinstall it with `pip install` from a full clone"
    )
  return p


def provenance(name: str = DEFAULT) -> dict:
  """Where a shipped rule comes from and how it evaluates (provenance.json's entry).

  Args:
    name: a shipped rule's name.

  Returns:
    dict: config, commit, meta-steps, hardware, hours and its held-out evaluation.

  Raises:
    FileNotFoundError: as `path`.
  """
  path(name)
  return json.loads((_dir() / "provenance.json").read_text())[name]
