import numpy as np

from metaunsup.evaluation.store import PartialResults


def test_damaged_piece_is_computed_again_with_a_warning(tmp_path):
  store = PartialResults(tmp_path)
  store.save("digits@0", {"acc": 0.5}, {"w": np.ones(3)})
  assert store.load("digits@0")[0] == {"acc": 0.5}
  npz = next(tmp_path.glob("*.npz"))
  npz.write_bytes(npz.read_bytes()[:20])  # a disk fault truncated it
  logs, calls = [], []

  def compute():
    calls.append(1)
    return {"acc": 0.5}, {"w": np.ones(3)}

  result, arrays = store.get_or_compute("digits@0", compute, log=logs.append)
  assert calls == [1] and result == {"acc": 0.5} and arrays["w"].tolist() == [1, 1, 1]
  assert len(logs) == 1 and "warning" in logs[0] and str(npz) in logs[0]
  assert store.load("digits@0")[1]["w"].tolist() == [1, 1, 1]  # rewritten whole
