"""The full evaluation (`make evaluate`). It lives in the package
(metaunsup/evaluation/default_config.py) beside the code that reads it; this file is the
experiment handle that eval_cpu.py and eval_quick.py build on."""
from metaunsup.evaluation.default_config import get_config  # noqa: F401
