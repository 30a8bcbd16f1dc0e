"""`python -m metaunsup.evaluation --rule=... --config=... --out=...` (cli.py)."""

import functools

from absl import app, flags

from metaunsup import configs
from metaunsup.flags import parse_flags
from metaunsup.evaluation import cli

flags.adopt_module_key_flags(cli)  # --help lists the evaluation's flags
app.run(cli.main, flags_parser=functools.partial(parse_flags, config_names=configs.EVALUATION))
