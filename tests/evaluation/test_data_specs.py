import numpy as np
import pytest

from metaunsup.evaluation import data_specs


def test_data_spec_parse():
  assert data_specs.DataSpec.parse("mnist@28+perm") == data_specs.DataSpec("mnist", 28, True)
  assert data_specs.DataSpec.parse("reuters") == data_specs.DataSpec("reuters", 14, False)
  for bad in ("@14", "mnist@x", "mnist@"):
    with pytest.raises(ValueError, match="NAME@SIZE"):
      data_specs.DataSpec.parse(bad + ("" if bad != "mnist@" else "x"))


def test_permuted_data_is_a_fixed_column_permutation():
  plain = data_specs.DataSpec.parse("digits@8").load(0)
  permuted = data_specs.DataSpec.parse("digits@8+perm").load(0)
  perm = np.random.default_rng(0).permutation(plain.input_dim)
  np.testing.assert_array_equal(permuted.train_x, plain.train_x[:, perm])
  np.testing.assert_array_equal(permuted.test_y, plain.test_y)
