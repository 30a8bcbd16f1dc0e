"""requirements.lock, the exact versions `make venv` installs: it pins every dependency of
pyproject.toml (runtime and the `dev` extra) inside its range, it holds exact pins only, and
the repository's own .venv has what it pins.

Why: `make venv` installs the lock and then the package with `--no-deps`, so that two installs
a week apart get the same packages, the ones the last green CI tested. A dependency added to
pyproject.toml without `make lock`, a range that no longer admits its pin, a hand-written
`>=` in the lock or a .venv left behind by a newer lock would each go unnoticed until an
install somewhere else breaks."""

import importlib.metadata
import pathlib
import re
import sys

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PROJECT = "metaunsup"
# What `uv pip compile` writes: name==version, optionally "; markers". No ranges, no URLs,
# no pip options (-e, -r, --index-url): each would let two installs differ.
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;=<>!~,*@]+\s*(;.+)?$")

# The environments markers are checked against (`make lock` resolves with --universal): CI's
# x86_64 Linux, aarch64 Linux, Apple silicon and Windows, CPython 3.11 to 3.14 (jax >= 0.10
# needs 3.11).
PLATFORMS = [
  dict(sys_platform="linux", platform_system="Linux", platform_machine="x86_64"),
  dict(sys_platform="linux", platform_system="Linux", platform_machine="aarch64"),
  dict(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64"),
  dict(sys_platform="win32", platform_system="Windows", platform_machine="AMD64", os_name="nt"),
]
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]
ENVIRONMENTS = [
  {
    **default_environment(),
    "os_name": "posix",
    **p,
    "python_version": v,
    "python_full_version": f"{v}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
  }
  for p in PLATFORMS
  for v in PYTHONS
]


def _pins():
  """(line number, Requirement) for every pin; comments (`#` at the start or after a space,
  as pip reads them) and blank lines are left out."""
  out = []
  for n, line in enumerate(LOCK.read_text().splitlines(), 1):
    text = re.sub(r"(^|\s)#.*", "", line).strip()
    if text:
      out.append((n, text))
  return out


def _version(req: Requirement) -> Version:
  return Version(next(iter(req.specifier)).version)


def _applies(req: Requirement, env=None) -> bool:
  return req.marker is None or req.marker.evaluate(env)


def _pyproject() -> dict:
  import tomllib  # the package needs Python >= 3.11 (pyproject.toml), which has it

  with open(ROOT / "pyproject.toml", "rb") as f:
    return tomllib.load(f)


def test_every_line_is_an_exact_pin():
  lines = _pins()
  assert lines, f"{LOCK} pins nothing"
  for n, text in lines:
    assert PIN.match(text), f"requirements.lock:{n}: {text!r} is not name==version[; markers]"
    req = Requirement(text)
    assert req.url is None and len(req.specifier) == 1, f"requirements.lock:{n}: {text!r}"
    try:
      _version(req)
    except InvalidVersion:
      pytest.fail(f"requirements.lock:{n}: {text!r} pins no valid version")
    # The package itself comes from `pip install --no-deps -e .`, never from the lock.
    assert canonicalize_name(req.name) != PROJECT, f"requirements.lock:{n} pins the project"


def test_lock_says_how_it_was_made():
  head = LOCK.read_text().split("\n", 3)[:3]
  assert any(line.startswith("#") and "make lock" in line for line in head), (
    "requirements.lock has lost its header: regenerate it with `make lock`"
  )


def test_every_dependency_is_pinned_inside_its_range():
  project = _pyproject()["project"]
  wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
  pins = {}
  for _, text in _pins():
    req = Requirement(text)
    pins.setdefault(canonicalize_name(req.name), []).append(req)
  for spec in wanted:
    req = Requirement(spec)
    locked = pins.get(canonicalize_name(req.name), [])
    assert locked, f"{req.name} (pyproject.toml) is not in requirements.lock: run `make lock`"
    # Exactly one pin wherever the requirement applies: none would leave pip to pick any
    # version there (as another package's dependency), two would stop `pip install -r`.
    for env in ENVIRONMENTS:
      if _applies(req, env):
        live = [str(p) for p in locked if _applies(p, env)]
        assert len(live) == 1, (
          f"requirements.lock pins {req.name} {len(live)} times for "
          f"{env['sys_platform']} {env['platform_machine']} Python "
          f"{env['python_version']} ({live}): run `make lock`"
        )
    for pin in locked:
      # prereleases=True: a pinned prerelease is judged by the range alone.
      assert req.specifier.contains(_version(pin), prereleases=True), (
        f"requirements.lock pins {pin}, outside pyproject.toml's {spec!r}: run `make lock`"
      )


def test_repository_venv_has_the_locked_versions():
  venv = ROOT / ".venv"
  if pathlib.Path(sys.prefix).resolve() != venv.resolve():
    pytest.skip(f"not the repository's .venv ({sys.prefix}): only `make venv` follows the lock")
  wrong = []
  for _, text in _pins():
    req = Requirement(text)
    if not _applies(req):
      continue
    try:
      have = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
      have = "missing"
    if have == "missing" or Version(have) != _version(req):
      wrong.append(f"{req.name} {have} (locked {_version(req)})")
  assert not wrong, (
    f".venv differs from requirements.lock: {', '.join(wrong)}; run `make venv` "
    f"(rm .venv/.installed first if make says it is up to date)"
  )
