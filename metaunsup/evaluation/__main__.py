"""`python -m metaunsup.evaluation --rule=... --config=... --out=...` (cli.py)."""
from absl import app, flags

from metaunsup.flags import parse_flags
from metaunsup.evaluation import cli

flags.adopt_module_key_flags(cli)  # --help lists the evaluation's flags
app.run(cli.main, flags_parser=parse_flags)
