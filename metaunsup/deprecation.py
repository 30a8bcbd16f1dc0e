"""Old import paths and names kept working, each with a DeprecationWarning that names the new
one (issue 36 moved the rules into `metaunsup.rules` and renamed their classes)."""

import warnings
from typing import Any, Callable


def moved(old: str, new: str) -> None:
  """Warn, once per import of the old module, that it moved.

  Args:
    old: the old module's name.
    new: what to import instead (and any renames, in words).
  """
  warnings.warn(f"{old} is deprecated: import {new}", DeprecationWarning, stacklevel=3)


def renamed(module: str, names: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
  """A module `__getattr__` (PEP 562) that serves old names with a warning.

  Args:
    module: the module's name, for messages.
    names: old name -> (the new name, in words; the object).

  Returns:
    The `__getattr__` function; any other name raises AttributeError as usual.
  """

  def __getattr__(name: str) -> Any:
    if name not in names:
      raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_name, value = names[name]
    warnings.warn(
      f"{module}.{name} is deprecated: use {new_name}", DeprecationWarning, stacklevel=2
    )
    return value

  return __getattr__
