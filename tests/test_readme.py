"""The README's "Extending metaunsup" section runs as written: its ```python blocks, in order,
as one script in a fresh interpreter (a rule, a baseline, an estimator and a data set, each
registered and used once), with the data directory in a temporary folder, since the data-set
example prepares a TFDS data set there. A README example that breaks fails here."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECTION = "Extending metaunsup"


def section_code(heading: str) -> list[str]:
  """The ```python blocks between '## heading' and the next '## ' heading of README.md."""
  text = (ROOT / "README.md").read_text()
  start = re.search(rf"^## {re.escape(heading)}[ \t]*$", text, re.M)
  assert start, f"README.md has no '## {heading}' section"
  body = text[start.end() :]
  end = re.search(r"^## ", body, re.M)
  body = body[: end.start()] if end else body
  return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", body, re.M | re.S)


def test_the_section_shows_every_extension_point():
  code = "\n".join(section_code(SECTION))
  for what in (
    "@local_rule.register(",
    "@methods.register(",
    "@estimators.register(",
    "tfds.core.GeneratorBasedBuilder",
    "metaunsup.apply_rule(",
    "local:",
  ):
    assert what in code, f"the README's '{SECTION}' section has no {what}"


@pytest.mark.slow  # about 10 s on 2 cores: a fresh interpreter, jax, TFDS
def test_the_section_runs_in_a_fresh_interpreter(tmp_path):
  blocks = section_code(SECTION)
  assert len(blocks) >= 4, blocks
  script = tmp_path / "readme_extending.py"
  script.write_text("\n\n".join(blocks))
  env = dict(
    os.environ,
    METAUNSUP_DATA=str(tmp_path / "data"),
    PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
  )
  run = subprocess.run(
    [sys.executable, str(script)],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert run.returncode == 0, (
    f"the README's '{SECTION}' code failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
  )
  # The data-set example prepared its data set where METAUNSUP_DATA points, nowhere else.
  assert (tmp_path / "data" / "tfds" / "my_blobs").is_dir()


@pytest.mark.slow  # about 15 s on 2 cores: a fresh interpreter, 300 inner steps, compiles
def test_the_quick_start_prints_what_the_readme_says(tmp_path):
  blocks = section_code("Quick start")
  assert len(blocks) == 1, blocks
  script = tmp_path / "readme_quick_start.py"
  script.write_text(blocks[0])
  run = subprocess.run(
    [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
  )
  assert run.returncode == 0, f"the README's quick start failed:\n{run.stderr[-4000:]}"
  printed = dict(line.rsplit(" ", 1) for line in run.stdout.strip().splitlines())
  text = (ROOT / "README.md").read_text()
  quoted = dict(re.findall(r"`(rule|random init|PCA-32) ([0-9.]+)`", text))
  assert sorted(printed) == sorted(quoted) == ["PCA-32", "random init", "rule"], (printed, quoted)
  for name, value in quoted.items():
    # 2000 test examples: one prediction is 0.0005. Another machine's rounding may move a
    # few of them; a changed method or README moves far more.
    assert abs(float(printed[name]) - float(value)) <= 0.01, (name, printed[name], value)
  assert float(printed["rule"]) > float(printed["random init"]) + 0.1
