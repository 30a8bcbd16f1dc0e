"""Every stage of meta-training in about a minute: the packaged config `--config=smoke`
(metaunsup/configs/smoke.py); this file is the experiment handle."""

from metaunsup.configs.smoke import get_config  # noqa: F401
