"""The default meta-training run (`make meta-train`, `--config=default`): the setting the
shipped rule was meta-trained in. Its fields and their meaning: metaunsup/default_config.py,
which `metaunsup.train_rule()` uses without a config."""

from metaunsup.default_config import get_config  # noqa: F401
