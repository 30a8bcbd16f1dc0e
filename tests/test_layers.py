"""The package is a one-way stack: core (base model, heads, files, the rule interface) -> the
rules -> what reads rule files -> the inner problem (tasks and their lifecycle, apply_rule's
network) -> estimators -> training and evaluation -> the loop, the public API and the command
lines. No module imports from a layer above its own, at module level or inside a function,
so that each layer can be used (and read) without the ones above it. Within the rules, a rule
imports no other rule except through the zoo's term records."""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "metaunsup"

# Module-name prefixes by layer, lowest first; a module's longest matching prefix decides.
LAYERS = [
  (
    "metaunsup.file_faults",
    "metaunsup.checkpointing",
    "metaunsup.preprocess",
    "metaunsup.base_model",
    "metaunsup.heads",
    "metaunsup.registry",
    "metaunsup.deprecation",
    "metaunsup.submodules",
    "metaunsup.compile_cache",
    "metaunsup.local_rule",
    "metaunsup.pretrained",
    "metaunsup.sharding",
    "metaunsup.monitoring",
    "metaunsup.sources",
    "metaunsup.data",
    "metaunsup.checks",
  ),
  ("metaunsup.rules",),
  (
    "metaunsup.rule_files",
    # The deprecated names of the rules' modules (issue 36), which re-export them.
    "metaunsup.rule",
    "metaunsup.compact_rule",
    "metaunsup.zoo",
    "metaunsup.baselines.oja",
  ),
  ("metaunsup.inner", "metaunsup.trained_model", "metaunsup.task_family", "metaunsup.conv"),
  ("metaunsup.estimators",),
  (
    "metaunsup.training",
    "metaunsup.evaluation",
    "metaunsup.baselines",
    # The conv references fit the baselines' k-means and PCA on patches.
    "metaunsup.conv.references",
    "metaunsup.default_config",  # deprecated: metaunsup.configs.default
    "metaunsup.configs",
  ),
  ("metaunsup.train", "metaunsup.api", "metaunsup.evaluation.__main__", "metaunsup.flags"),
]


def _layer(module: str) -> int:
  """The layer of the longest prefix of LAYERS that `module` has."""
  if module == "metaunsup":  # the package's __init__: the public API
    return len(LAYERS) - 1
  matches = [
    (len(p), i)
    for i, prefixes in enumerate(LAYERS)
    for p in prefixes
    if module == p or module.startswith(p + ".")
  ]
  assert matches, f"{module} is in no layer of tests/test_layers.py; add it"
  return max(matches)[1]


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path, module: str):
  """Every metaunsup module `path` imports, anywhere in the file."""
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names if a.name.startswith("metaunsup"))
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(
          package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
        )
      if base.startswith("metaunsup"):
        # `from metaunsup import inner` imports the module metaunsup.inner.
        yield from (
          f"{base}.{a.name}"
          if (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
          or (PACKAGE.parent / f"{base}.{a.name}".replace(".", "/")).is_dir()
          else base
          for a in node.names
        )


def test_no_module_imports_from_a_higher_layer():
  wrong = []
  for path in sorted(PACKAGE.rglob("*.py")):
    module = _module_name(path)
    for imported in _imports(path, module):
      if _layer(imported) > _layer(module):
        wrong.append(
          f"{module} (layer {_layer(module)}) imports {imported} (layer {_layer(imported)})"
        )
  assert not wrong, "\n".join(wrong)


# Within metaunsup.rules, a rule (a module, or the package of the learned rule) may import
# from another rule only the zoo's term records; the packages' __init__ files, which register
# every rule, and the records' collection `zoo.terms` import them all.
# What the zoo's rules share: the term records and the published schedules' base class.
RULE_SHARED = (
  "metaunsup.rules.zoo.terms",
  "metaunsup.rules.zoo.record",
  "metaunsup.rules.zoo.schedule",
  "metaunsup.rules.time_features",
)
RULE_COLLECTIONS = ("metaunsup.rules", "metaunsup.rules.zoo", "metaunsup.rules.zoo.terms")


def _rule_of(module: str) -> str:
  """The rule a module of metaunsup.rules belongs to: metaunsup.rules.learned for every
  module of that package, else the module itself."""
  learned = "metaunsup.rules.learned"
  return learned if module == learned or module.startswith(learned + ".") else module


def test_a_rule_imports_no_other_rule_only_the_zoo_s_shared_modules():
  wrong = []
  for path in sorted((PACKAGE / "rules").rglob("*.py")):
    module = _module_name(path)
    if module in RULE_COLLECTIONS:
      continue
    for imported in _imports(path, module):
      if not imported.startswith("metaunsup.rules") or imported in RULE_SHARED:
        continue
      if _rule_of(imported) != _rule_of(module):
        wrong.append(f"{module} imports {imported}")
  assert not wrong, "\n".join(wrong)


def test_the_rule_interface_imports_no_rule():
  imported = set(_imports(PACKAGE / "local_rule.py", "metaunsup.local_rule"))
  assert imported <= {"metaunsup.base_model", "metaunsup.registry"}, imported


@pytest.mark.parametrize(
  "module, not_loaded",
  [
    ("metaunsup.local_rule", ("metaunsup.rules", "metaunsup.rule_files", "metaunsup.inner")),
    (
      "metaunsup.rules",
      (
        "metaunsup.rule_files",
        "metaunsup.inner",
        "metaunsup.estimators",
        "metaunsup.training",
        "metaunsup.train",
        "metaunsup.evaluation",
      ),
    ),
    (
      "metaunsup.inner",
      ("metaunsup.estimators", "metaunsup.training", "metaunsup.train", "metaunsup.evaluation"),
    ),
    (
      "metaunsup.trained_model",
      ("metaunsup.estimators", "metaunsup.training", "metaunsup.train", "metaunsup.evaluation"),
    ),
    ("metaunsup.estimators", ("metaunsup.training", "metaunsup.train", "metaunsup.evaluation")),
  ],
)
def test_a_layer_loads_nothing_above_it(module, not_loaded):
  """In a fresh interpreter (what `import metaunsup` itself loads included)."""
  code = (
    f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('metaunsup')))"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300
  )
  assert out.returncode == 0, out.stderr[-2000:]
  loaded = out.stdout.split()
  assert module in loaded
  above = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in not_loaded)]
  assert not above, f"importing {module} loads {above}"
