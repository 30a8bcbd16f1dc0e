"""XLA's persistent compilation cache is on by default for the public API and the command
lines, under the data folder (metaunsup/compile_cache.py): a user's second run of a call
loads its programs instead of compiling them; a cache the user set is kept, and "off" turns
it off."""

import os
import subprocess
import sys

import pytest

APPLY = """
import jax, numpy as np
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # cache every program
import metaunsup
x = np.random.default_rng(0).normal(size=(64, 12)).astype(np.float32)
metaunsup.apply_rule("pretrained", x, widths=(8,), steps=2, batch_size=32)
print(jax.config.jax_compilation_cache_dir)
"""


# Importing the public API turns the cache on; nothing is compiled.
IMPORT = "import jax, metaunsup.api; print(jax.config.jax_compilation_cache_dir)"


def _run(tmp_path, code=APPLY, **env):
  base = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
  out = subprocess.run(
    [sys.executable, "-c", code],
    env={**base, "METAUNSUP_DATA": str(tmp_path / "data"), **env},
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-2000:]
  return out.stdout.split()[0]


@pytest.mark.slow  # two fresh interpreters that compile apply_rule's programs: about 20 s
def test_cache_under_the_data_folder_by_default_and_reused(tmp_path):
  folder = tmp_path / "data" / "xla_cache"
  assert _run(tmp_path) == str(folder)
  entries = set(os.listdir(folder))
  assert entries  # the programs of apply_rule, written for the next run
  assert _run(tmp_path) == str(folder)
  assert set(os.listdir(folder)) == entries  # the second run compiled nothing new


def test_a_users_cache_is_kept_and_off_turns_it_off(tmp_path):
  own = tmp_path / "own"
  assert _run(tmp_path, IMPORT, JAX_COMPILATION_CACHE_DIR=str(own)) == str(own)
  elsewhere = str(tmp_path / "elsewhere")
  assert _run(tmp_path, IMPORT, METAUNSUP_XLA_CACHE=elsewhere) == elsewhere
  assert _run(tmp_path, IMPORT, METAUNSUP_XLA_CACHE="off") == "None"
  assert not (tmp_path / "data" / "xla_cache").exists()
