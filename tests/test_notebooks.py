"""The notebooks of experiments/shared/notebooks: each runs top to bottom on CPU with small
parameters (injected after its `parameters` cell, as papermill does) in a kernel of this
test's own Python; each has a Colab badge in the README; each .ipynb matches its jupytext
text twin (.py, percent format), which is what reviews read.

Executing them is the slow part (about 2-3 min for all four on 2 cores, mostly XLA
compiles): worth it because nothing else checks that the notebooks users open still run.
METAUNSUP_NOTEBOOK_OUT=DIR keeps the executed copies (with their figures) in DIR.
"""

import json
import os
import pathlib
import re
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "experiments" / "shared" / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))

# Small values for CI, by notebook; every name must exist in the notebook's parameters cell.
SMALL = {
  "01_quickstart": dict(
    DATASET="digits",
    IMAGE_SIZE=8,
    WIDTHS=(32, 16),
    INNER_STEPS=(0, 10, 30),
    SEEDS=(0, 1),
    QUERY_SIZE=200,
  ),
  "02_meta_train_tpu": dict(
    DATASETS=("digits",),
    IMAGE_SIZE=8,
    WIDTHS=16,
    DEPTH=1,
    FEATURE_WIDTH=8,
    TASKS_PER_DEVICE=2,
    META_STEPS=4,
    TRUNCATIONS=(3,),
    MAX_INNER_STEPS=10,
    RULE_SIZE=(4, 8),
    EVAL_DATASETS=("digits",),
    EVAL_WIDTHS=(16, 8),
    EVAL_STEPS=5,
    EVAL_SEEDS=2,
    EVAL_QUERY=200,
  ),
  "03_paper_figures": dict(SIZE="ci"),
  "04_your_own_rule": dict(
    DATASETS=("digits",),
    IMAGE_SIZE=8,
    WIDTHS=16,
    FEATURE_WIDTH=8,
    META_STEPS=4,
    MORE_STEPS=2,
    TRUNCATION=3,
    EVAL_DATASET="digits",
    EVAL_WIDTHS=(16, 8),
    EVAL_STEPS=10,
    EVAL_SEEDS=(0, 1),
    EVAL_QUERY=200,
  ),
}


def _read(path):
  import nbformat

  return nbformat.read(path, as_version=4)


def _parameters_cell(nb) -> int:
  tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
  assert len(tagged) == 1, "a notebook needs exactly one cell tagged `parameters`"
  return tagged[0]


def test_every_notebook_has_small_parameters():
  assert NOTEBOOKS, f"no notebooks in {NB_DIR}"
  assert sorted(p.stem for p in NOTEBOOKS) == sorted(SMALL)
  for path in NOTEBOOKS:
    nb = _read(path)
    source = nb.cells[_parameters_cell(nb)].source
    for name in SMALL[path.stem]:
      assert re.search(rf"^{name} = ", source, re.M), f"{path.name}: no parameter {name}"


def test_twins_in_sync():
  import jupytext

  for path in NOTEBOOKS:
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} missing: `jupytext --sync {path.name}`"
    a, b = _read(path), jupytext.read(twin)

    def cells(nb):
      return [(c.cell_type, c.source.strip()) for c in nb.cells]

    assert cells(a) == cells(b), (
      f"{path.name} and {twin.name} differ; "
      f"run `jupytext --sync experiments/shared/notebooks/{twin.name}`"
    )


def test_readme_badges_point_at_existing_notebooks():
  readme = (ROOT / "README.md").read_text()
  badges = re.findall(
    r"\(https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/"
    r"[^/]+/([^)\s]+\.ipynb)\)",
    readme,
  )
  linked = {path for _, path in badges}
  for path in linked:
    assert (ROOT / path).is_file(), f"README badge points at {path}, which does not exist"
  for nb in NOTEBOOKS:
    rel = str(nb.relative_to(ROOT))
    assert rel in linked, f"{rel} has no 'Open in Colab' badge in the README"
    # The install cell installs from the repository the badge opens.
    repo = re.search(r'^REPO = "https://github\.com/([^"]+)"', _read(nb).cells[1].source, re.M)
    assert repo and {r for r, _ in badges} == {repo.group(1)}, nb.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.slow
def test_notebook_runs_on_cpu(path, tmp_path):
  import nbformat
  from nbclient import NotebookClient

  nb = _read(path)
  small = "\n".join(f"{k} = {v!r}" for k, v in SMALL[path.stem].items())
  # The kernel must be this interpreter (the venv), not some other python3 on the machine.
  check = f"import sys\nassert sys.prefix == {sys.prefix!r}, sys.prefix"
  nb.cells.insert(
    _parameters_cell(nb) + 1,
    nbformat.v4.new_code_cell(f"# injected by tests/test_notebooks.py\n{small}\n{check}"),
  )
  t0 = time.time()
  NotebookClient(
    nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
  ).execute()
  seconds = time.time() - t0
  images = sum(
    "image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs
  )
  assert images >= 1, f"{path.name} showed no figure"
  out = os.environ.get("METAUNSUP_NOTEBOOK_OUT")
  if out:
    pathlib.Path(out).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, pathlib.Path(out) / path.name)
    with open(pathlib.Path(out) / "times.jsonl", "a") as f:
      f.write(
        json.dumps({"notebook": path.name, "seconds": round(seconds, 1), "figures": images}) + "\n"
      )
