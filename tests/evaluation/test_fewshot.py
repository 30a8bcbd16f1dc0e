import numpy as np
import pytest

from metaunsup.evaluation import fewshot


def test_support_query_split_is_balanced_and_disjoint():
  labels = np.arange(100) % 4
  s, q = fewshot.support_query_split(labels, 3, 20, 0, 4)
  assert np.bincount(labels[s]).tolist() == [3, 3, 3, 3]
  assert len(q) == 20 and not set(s) & set(q)


@pytest.mark.parametrize("labels,shots,num_classes,match", [
    # A class of 3 examples with shots=5 (numpy: "Cannot take a larger sample ...").
    (np.r_[np.zeros(10), np.ones(3)].astype(int), 5, 2, "class 1 has 3 examples, fewer than shots=5"),
    # Labels 1..10 with num_classes=10 (numpy: "a cannot be empty").
    (np.arange(50) % 10 + 1, 2, 10, r"labels \[10\] are outside 0\.\.9"),
])
def test_support_query_split_errors_name_the_class_and_counts(labels, shots, num_classes, match):
  with pytest.raises(ValueError, match=match) as e:
    fewshot.support_query_split(labels, shots, 10, 0, num_classes)
  assert "\n" not in str(e.value)
