"""The full evaluation sized for a 2-core CPU (under an hour): the packaged config
`--config=eval_cpu` (metaunsup/configs/eval_cpu.py); this file is the experiment handle."""

from metaunsup.configs.eval_cpu import get_config  # noqa: F401
