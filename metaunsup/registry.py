"""A registry of named things (rule kinds, meta-gradient estimators, evaluation methods): one
class for all three, as a name -> object table with the package's checks, and optionally an
entry-point group through which other installed packages add to it without being imported
first (as pytest finds its plugins).

A name is letters, digits and underscores. Registering a name again with the same object
(a reloaded module: same qualified name) is allowed; with another object it is an error, so
that two packages cannot silently take one name.
"""

from __future__ import annotations

import importlib.metadata
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
  """A name -> object table (module docstring).

  Args:
    what: what an entry is, as messages name it ("rule kind", "estimator").
    identity: the qualified name that decides whether two objects registered under one
      name are the same (default: the object's `__qualname__`).
    entry_point_group: the `importlib.metadata` entry-point group whose entries `get`
      loads for a name it does not hold (e.g. "metaunsup.rules"); None: none.
    adopt: called as adopt(name, loaded) when loading the entry point `name` did not
      register it (the loaded object was not decorated), to register it.
  """

  def __init__(
    self,
    what: str,
    *,
    identity: Callable[[T], str] | None = None,
    entry_point_group: str | None = None,
    adopt: Callable[[str, object], None] | None = None,
  ):
    self.what = what
    self.entry_point_group = entry_point_group
    self._identity = identity or (lambda v: getattr(v, "__qualname__", repr(v)))
    self._adopt = adopt
    self._entries: dict[str, T] = {}

  def check_name(self, name: str) -> None:
    """Raise a one-line error for a malformed name.

    Args:
      name: a candidate name.

    Raises:
      ValueError: empty, or other than letters, digits and underscores.
    """
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
      raise ValueError(f"{self.what} {name!r} must be letters, digits and underscores")

  def add(self, name: str, value: T) -> None:
    """Register `value` under `name`.

    Args:
      name: letters, digits and underscores.
      value: the object (a class or a record).

    Raises:
      ValueError: a malformed name, or one registered to another object (one line).
    """
    self.check_name(name)
    if name in self._entries and self._identity(self._entries[name]) != self._identity(value):
      raise ValueError(f"{self.what} {name!r} is already registered to {self._entries[name]}")
    self._entries[name] = value

  def remove(self, name: str) -> None:
    """Unregister `name` (a test's temporary entry); nothing when it is not registered.

    Args:
      name: a name.
    """
    self._entries.pop(name, None)

  def get(self, name: str) -> T | None:
    """The object registered under `name`, loading the entry point of that name first when
    none is registered yet.

    Args:
      name: a name.

    Returns:
      The object, or None when neither the table nor the entry-point group has the name.

    Raises:
      ValueError: (one line) the entry point of that name fails to load, naming it.
    """
    if name not in self._entries:
      self._load_entry_point(name)
    return self._entries.get(name)

  def names(self, *, installed: bool = False) -> tuple[str, ...]:
    """The registered names in registration order.

    Args:
      installed: also the names of the entry-point group (loading none of them), after the
        registered ones, sorted.

    Returns:
      tuple of names.
    """
    names = tuple(self._entries)
    if installed and self.entry_point_group:
      extra = {ep.name for ep in self._entry_points()} - set(names)
      names += tuple(sorted(extra))
    return names

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(tuple(self._entries))

  def values(self) -> tuple[T, ...]:
    """The registered objects, in registration order."""
    return tuple(self._entries.values())

  def _entry_points(self) -> tuple[importlib.metadata.EntryPoint, ...]:
    if not self.entry_point_group:
      return ()
    return tuple(importlib.metadata.entry_points(group=self.entry_point_group))

  def _load_entry_point(self, name: str) -> None:
    for ep in self._entry_points():
      if ep.name != name:
        continue
      try:
        loaded = ep.load()
      except Exception as e:  # any error of a third-party import, reported in one line
        raise ValueError(
          f"{self.what} {name!r}: its entry point {ep.value!r} (group "
          f"{self.entry_point_group!r}) failed to load: {type(e).__name__}: {e}"
        ) from None
      if name not in self._entries and self._adopt is not None:
        self._adopt(name, loaded)
      return
