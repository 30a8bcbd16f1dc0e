"""The full evaluation (`make evaluate`): the packaged config `--config=eval_full`
(metaunsup/configs/eval_full.py, fields in metaunsup/evaluation/default_config.py); this
file is the experiment handle that the research configs here build on."""

from metaunsup.configs.eval_full import get_config  # noqa: F401
