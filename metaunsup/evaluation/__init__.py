"""Evaluation of learned rules on held-out data (Metz et al., ICLR 2019, Sec. 5).

::

  fewshot.py        `fewshot_eval`: the rule against random init, one readout per seed
                    with make evaluate's labelled examples (meta-training's held-out
                    check, summary.json); `support_query_split`
  stats.py          `mean_sem`, `summarize_records`: statistics over seeds
  data_specs.py     `DataSpec`: 'mnist@28+perm' parsed and loaded
  readout.py        nested support sets, a class-balanced query, the few-shot heads
  methods.py        the registry of methods (rule, random init, VAE, supervised, Oja, PCA,
                    raw, and "local:KIND" for any registered local rule): name, display
                    name, curve or not, the function run per seed
  protocol.py       every method of config.methods on one data set and seed, from one
                    shared init
  sweeps.py         the rule against random init over widths, depths and activations
  store.py          finished pieces on disk: resume, and two processes sharing the work
  pipeline.py       `run`: the whole evaluation, written to OUT
  report.py         results.md from results.json
  figures.py        PNG figures from results.json
  config_checks.py  checks a config (its defaults: metaunsup/configs/eval_full.py), and
                    `complete`s a partial one
  cli.py            `python -m metaunsup.evaluation --rule=... --config=... --out=...`
"""

from metaunsup import submodules
from metaunsup.evaluation.fewshot import fewshot_eval, support_query_split
from metaunsup.evaluation.stats import mean_sem

__all__ = ["fewshot_eval", "mean_sem", "support_query_split"]

__getattr__ = submodules.loader(__name__)
