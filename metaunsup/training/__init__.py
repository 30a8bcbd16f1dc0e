"""Meta-training, split by concern (the loop itself is `metaunsup.train`):

setup.py                a run's task family, static pieces and initial state, built once
meta_step.py            the jitted meta-step (state in, state out) and the meta-optimiser
clipping.py             the meta-gradient's global-norm clip, safe from float32 overflow
truncation_schedule.py  truncation lengths
state.py                MetaTrainState, the typed (flax.struct) state that is checkpointed
workdir.py              the run's folder: config check on resume, metrics log, summary
workdir_lock.py         one run per folder: its lock, taken before the first write
config_checks.py        validation of the meta-training config
"""

from metaunsup import submodules


__getattr__ = submodules.loader(__name__)
