"""The whole evaluation pipeline, small enough for CI: the packaged config
`--config=eval_quick` (metaunsup/configs/eval_quick.py); this file is the experiment
handle."""

from metaunsup.configs.eval_quick import get_config  # noqa: F401
