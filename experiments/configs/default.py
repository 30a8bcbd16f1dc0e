"""The default meta-training run: the packaged config `--config=default`
(metaunsup/configs/default.py, fields in metaunsup/default_config.py); this file is the
experiment handle, for the research configs here that build on it."""

from metaunsup.configs.default import get_config  # noqa: F401
