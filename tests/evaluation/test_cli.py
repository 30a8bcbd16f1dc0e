import subprocess
import sys

import pytest


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "metaunsup.evaluation",
      f"--rule={tmp_path / 'missing'}",
      "--config=metaunsup/configs/eval_quick.py",
      f"--out={tmp_path / 'out'}",
    ],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "error: no rule at" in result.stderr and "Traceback" not in result.stderr
