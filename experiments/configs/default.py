"""The default meta-training run. It lives in the package (metaunsup/default_config.py) so
`metaunsup.train_rule()` has it without this folder; this file is the experiment handle."""
from metaunsup.default_config import get_config  # noqa: F401
