"""When tasks are cut (learned_optimization's truncation_schedule.py is the model): the
length k of each meta-step's truncation. A task's own lifecycle (its total length, its
staggered start, its reset) belongs to the inner problem (`inner.sample_total_steps`,
`inner.init_tasks`, `inner.reset_finished`); which data set a reset task draws is the task
family's (`task_family.TaskFamily.reassign`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def truncation_length(seed: int, step: int, lengths: Sequence[int]) -> int:
  """The truncation length k of meta-step `step`: chosen on the host, so that each length
  compiles once, and seeded by (seed, step), so a resumed run repeats it.

  Args:
    seed: the run's `config.seed`.
    step: the meta-step.
    lengths: the allowed lengths (`config.inner.truncation_lengths`), in inner steps.

  Returns:
    k, one of `lengths`.
  """
  return int(np.random.default_rng([seed, step]).choice(lengths))
