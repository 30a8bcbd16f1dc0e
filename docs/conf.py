"""Sphinx configuration of the documentation site (`make docs`: docs/_build/html/index.html).

What the site is made of, and where each part comes from:

- the API reference (api/): autodoc over the package's Google-style docstrings (napoleon);
- the user guide: the README's sections, included from README.md itself (a marker comment
  is put before each of its `## ` headings as it is read: `readme_markers`, so a page
  includes a run of sections by their headings, and README.md stays the only source);
- the studies, their results and the notebooks: `experiments/` is mirrored into
  docs/experiments/ (its .md, .png and .ipynb files only; gitignored, rewritten by every
  build), so that every relative link and image of the README and of the studies' own
  READMEs resolves as it does on GitHub. The notebooks are rendered as stored (myst-nb,
  never executed).

The build is strict (`make docs`: -W --keep-going -n): every warning is an error and every
cross-reference must resolve. No intersphinx (no network at build time): the third-party
types of the signatures are listed in `nitpick_ignore_regex` instead.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import shutil

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
REPOSITORY = "https://github.com/metaunsup/metaunsup"

# Importing the package imports jax: the CPU backend, without looking for accelerators.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

project = "metaunsup"
author = "the metaunsup authors"
copyright = "the metaunsup authors, Apache-2.0"
release = importlib.metadata.version("metaunsup")
version = release

extensions = [
  "sphinx.ext.autodoc",
  "sphinx.ext.napoleon",
  "sphinx.ext.viewcode",
  "myst_nb",  # MyST markdown (myst-parser) and notebooks
]

root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
templates_path: list[str] = []

html_theme = "furo"
html_title = f"metaunsup {release}"
html_theme_options = {
  "source_repository": REPOSITORY,
  "source_branch": "main",
  "source_directory": "docs/",
}
html_static_path: list[str] = []

# --- autodoc and napoleon: Google style (Args / Returns / Raises / Attributes) ---
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" of a dataclass as fields of its own entry (`:ivar:`), not as attribute
# entries that would duplicate the dataclass fields autodoc already lists.
napoleon_use_ivar = True
# A parameter named with a trailing underscore (`apply_rule`'s `rule_`) keeps it: napoleon
# escapes it only with this set, else RST reads `rule_` as a link and shows "rule".
strip_signature_backslash = True

# The docstrings write code in single backticks (`metaunsup.load_rule`, `acts.xs[l]`), as
# markdown does: shown as code, not as RST's default (a book title, in italics).
default_role = "literal"


def _prose_returns(self, preprocess_types: bool = False) -> list[tuple[str, str, list[str]]]:
  """A Returns/Yields section, all of it as the description."""
  lines = self._dedent(self._consume_to_next_section())
  return [("", "", self.__class__(lines, self._config).lines())] if lines else []


def _prose_inline_attribute(self) -> tuple[str, list[str]]:
  """A property's or attribute's docstring, all of it as the description."""
  lines = [self._lines.next(), *self._dedent(self._consume_to_end())]
  return "", self.__class__(lines, self._config).lines()


# The package's types are in its annotations, never in its docstrings' text: a Returns
# section and a property's docstring are prose ("This method's PRNG key: derived from the
# seed ..."). Napoleon's Google style reads the text before such a first colon as a type,
# which would cut it off the description into an rtype/type field and try to resolve it as a
# class ("This method's PRNG key"). These two readers keep the whole text as the
# description; Args, Attributes and Raises are read as Google style defines them.
def _napoleon_prose_sections() -> None:
  from sphinx.ext.napoleon.docstring import GoogleDocstring

  GoogleDocstring._consume_returns_section = _prose_returns  # type: ignore[method-assign]
  GoogleDocstring._consume_inline_attribute = _prose_inline_attribute  # type: ignore[method-assign]


_napoleon_prose_sections()

# --- MyST and myst-nb ---
myst_enable_extensions = ["colon_fence"]
# Anchors for `#section-name` links, as GitHub makes them (the README's
# `[Extending](#extending-metaunsup)`, `../README.md#the-dagger`).
myst_heading_anchors = 4
# The notebooks take minutes to hours (meta-training): rendered as stored, never executed.
nb_execution_mode = "off"

# --- nitpicky (-n): what no inventory resolves offline (no intersphinx) ---
nitpick_ignore_regex = [
  # Third-party types of the signatures: jax.Array (jax.jaxlib._jax.Array), numpy.ndarray,
  # ml_collections' ConfigDict; no other package's types appear in them today.
  (r"py:class", r"(jax|numpy|ml_collections)\..*"),
]
nitpick_ignore = [
  ("py:class", "pathlib.Path"),  # the standard library's, also without an inventory
  # TypeVars of generic signatures (`register(...) -> Callable[[R], R]`): nothing to link to.
  ("py:class", "metaunsup.local_rule.R"),
  ("py:class", "metaunsup.estimators.T"),
]
suppress_warnings = [
  # The studies' result tables (experiments/*/results/*.md, written by
  # metaunsup.evaluation.report) and fmnist_relu/README.md go from a "#" title to "###"
  # headings: a style warning about data files, which the site shows as written.
  "myst.header",
]


# --- the README, included by sections ---
README_MARKER = "<!-- readme-section: {} -->"


def _readme_markers(text: str) -> str:
  """README.md with a marker comment before each of its `## ` headings (outside code
  fences): `{include} ../README.md` then takes `:start-after: "<!-- readme-section: Install
  -->"` (the heading itself stays in) and `:end-before:` the next page's first section."""
  out, fence = [], None
  for line in text.splitlines(keepends=True):
    stripped = line.lstrip()
    if fence is None and stripped.startswith(("```", "~~~")):
      fence = stripped[:3]
    elif fence is not None and stripped.startswith(fence):
      fence = None
    elif fence is None and line.startswith("## "):
      out.append(README_MARKER.format(line[3:].strip()) + "\n\n")
    out.append(line)
  return "".join(out)


def readme_markers(app, relative_path, parent_docname, content) -> None:
  """`include-read` handler: the markers, in the repository's own README.md only."""
  if (pathlib.Path(app.srcdir) / relative_path).resolve() == ROOT / "README.md":
    content[0] = _readme_markers(content[0])


# --- experiments/ mirrored into docs/experiments/ ---
MIRROR = DOCS / "experiments"
MIRROR_SUFFIXES = (".md", ".png", ".ipynb")
NOTEBOOK_NOTE = (
  "```{{note}}\nRendered from `experiments/shared/notebooks/{name}` as stored in the "
  "repository: the documentation build does not execute notebooks (they take minutes to "
  "hours).{outputs}\n```\n"
)
NO_OUTPUTS = (
  " This notebook is kept without outputs: run it (`jupyter lab`, or Colab from the "
  "README's table) to see them; `make test` runs it on CPU, small."
)


def _figures_section(readme: pathlib.Path, study: pathlib.Path) -> str:
  """A "Figures" section of every .png under `study` that its README does not show."""
  text = readme.read_text()
  pngs = sorted(p.relative_to(study).as_posix() for p in study.rglob("*.png"))
  missing = [p for p in pngs if f"]({p})" not in text]
  if not missing:
    return ""
  lines = [
    "",
    "## Figures",
    "",
    f"Every figure under `experiments/{study.name}/` that the text above does not show "
    "(added by the documentation build).",
    "",
  ]
  for p in missing:
    lines += [f"```{{figure}} {p}", ":width: 100%", "", f"`{p}`", "```", ""]
  return "\n".join(lines)


def _results_page(src: pathlib.Path, rel: pathlib.Path) -> str:
  """A study's results file (results.md, table.md, ...) as a page outside the navigation
  (`orphan`: reached from the README that links it, and by search), titled by its path
  where it has no title of its own."""
  text = src.read_text()
  if not text.lstrip().startswith("# "):
    text = f"# `experiments/{rel.as_posix()}`\n\n" + text
  return "---\norphan: true\n---\n\n" + text


def _notebook(src: pathlib.Path, dst: pathlib.Path) -> None:
  """The notebook with a first markdown cell that says it was not executed."""
  nb = json.loads(src.read_text())
  has_outputs = any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
  note = NOTEBOOK_NOTE.format(name=src.name, outputs="" if has_outputs else NO_OUTPUTS)
  # The note after the title (the first cell's first line), so the page keeps its title.
  first = nb["cells"][0]
  source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
  if first["cell_type"] == "markdown" and source.startswith("# "):
    title, _, rest = source.partition("\n")
    first["source"] = title + "\n\n" + note + rest
  else:
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": note})
  dst.write_text(json.dumps(nb, indent=1))


def mirror_experiments() -> None:
  if MIRROR.exists():
    shutil.rmtree(MIRROR)
  src_root = ROOT / "experiments"
  for src in sorted(src_root.rglob("*")):
    rel = src.relative_to(src_root)
    if (
      not src.is_file()
      or src.suffix not in MIRROR_SUFFIXES
      or any(part in ("checkpoints", ".ipynb_checkpoints") for part in rel.parts)
    ):
      continue
    dst = MIRROR / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix == ".ipynb":
      _notebook(src, dst)
    elif src.name == "README.md" and len(rel.parts) == 2:  # a study's README
      dst.write_text(src.read_text() + _figures_section(src, src.parent))
    elif src.suffix == ".md" and rel.parts[-1] not in ("README.md", "HISTORY.md"):
      dst.write_text(_results_page(src, rel))
    else:
      shutil.copyfile(src, dst)


# --- links to repository files that are not pages: to the file on GitHub ---
def _repository_links(app, doctree) -> None:
  """A markdown link to a file or folder of the repository that is not part of the site
  (`../bench/README.md`, `shared/`) becomes a link to it on GitHub, instead of a
  missing-reference warning. A link to a path that exists nowhere still warns."""
  from docutils import nodes
  from sphinx import addnodes

  doc_dir = pathlib.PurePosixPath(app.env.docname).parent
  for node in list(doctree.findall(addnodes.pending_xref)):
    if node.get("reftype") != "myst" or node.get("refdomain"):
      continue
    target = node["reftarget"]
    if "://" in target or target.startswith("#"):
      continue
    path = pathlib.Path(os.path.normpath(ROOT / doc_dir / target.split("#")[0]))
    if not path.exists() or ROOT not in path.parents:
      continue
    rel = path.relative_to(ROOT).as_posix()
    kind = "tree" if path.is_dir() else "blob"
    ref = nodes.reference("", "", internal=False, refuri=f"{REPOSITORY}/{kind}/main/{rel}")
    ref += node.children
    node.replace_self(ref)


# --- cross-references by the name a docstring uses ---
def _resolve_by_suffix(app, env, node, contnode):
  """A Python cross-reference that names a documented object by the tail of its full name
  (`file_faults.WriteFailedError`, `DamagedFileError` in a Raises section, an annotation's
  `local_rule.Theta`), as the docstrings do, resolves to it when exactly one documented
  object has that tail; none or several: the reference stays unresolved and warns (-n)."""
  if node.get("refdomain") != "py":
    return None
  target = node["reftarget"].lstrip(".~")
  py = env.get_domain("py")
  matches = [name for name in py.objects if name == target or name.endswith("." + target)]
  if len(matches) != 1:
    return None
  return py.resolve_xref(env, node["refdoc"], app.builder, "obj", matches[0], node, contnode)


def setup(app):
  mirror_experiments()
  app.connect("include-read", readme_markers)
  app.connect("doctree-read", _repository_links)
  app.connect("missing-reference", _resolve_by_suffix)
  return {"parallel_read_safe": True}
