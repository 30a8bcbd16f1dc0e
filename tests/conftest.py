import os

# The suite's time on CPU is mostly XLA compiling many small programs. LLVM's optimisation
# level changes how fast the machine code runs; results agree to float rounding.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
  ).strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402


@pytest.fixture
def key():
  return jax.random.PRNGKey(0)
