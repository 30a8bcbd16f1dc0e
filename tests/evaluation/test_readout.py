import numpy as np
import pytest

from metaunsup.evaluation import readout


def test_nested_support_is_balanced_and_nested():
  labels = np.repeat(np.arange(3), 20)
  idx = readout.nested_support(labels, 5, 3, seed=0)
  assert idx.shape == (3, 5) and len(np.unique(idx)) == 15
  for c in range(3):
    assert np.all(labels[idx[c]] == c)
  with pytest.raises(ValueError, match="fewer than shots=30"):
    readout.nested_support(labels, 30, 3, seed=0)
