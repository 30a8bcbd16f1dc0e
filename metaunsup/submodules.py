"""Submodules loaded on first attribute access (PEP 562), so that after a plain
`import metaunsup` every documented `metaunsup.X.Y` resolves (`metaunsup.sources.setup`,
`metaunsup.evaluation.report`) while an import still loads only the layers it needs."""

import importlib
import importlib.util
from typing import Any, Callable


def loader(package: str) -> Callable[[str], Any]:
  """A package's module `__getattr__` that imports its submodule of that name.

  Args:
    package: the package's `__name__`.

  Returns:
    `__getattr__(name)`: the submodule `package.name`, imported; AttributeError (as Python
    raises it) when there is none.
  """

  def __getattr__(name: str) -> Any:
    if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
      return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")

  return __getattr__
