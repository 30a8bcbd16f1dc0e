"""Meta-training, split by concern (the loop itself is `metaunsup.train`):

  meta_step.py            the jitted meta-step and the meta-optimiser
  clipping.py             the meta-gradient's global-norm clip, safe from float32 overflow
  truncation_schedule.py  truncation lengths, task lengths, staggered starts and resets
  state.py                MetaTrainState, the typed (flax.struct) state that is checkpointed
  workdir.py              the run's folder: config check on resume, metrics log, summary
  config_checks.py        validation of the meta-training config
"""
