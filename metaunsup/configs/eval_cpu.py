"""eval_full.py sized for a 2-core CPU (under an hour): every data set, method, seed and
label count of the full protocol, with the unsupervised curves run to 10^4 inner steps on
Fashion-MNIST 14x14, to 3000 on MNIST 14x14, to 1000 on 28x28 images, permuted pixels and
text, and sweeps up to width 512 (the learned rule's step grows with the square of the
width on a CPU)."""

from metaunsup.configs import eval_full


def get_config():
  """`--config=eval_cpu`.

  Returns:
    A fresh ml_collections.ConfigDict: eval_full's, with the step caps and sweep
    widths above.
  """
  c = eval_full.get_config()
  c.step_caps = {spec: 1000 for spec in c.datasets if spec.endswith(("@28", "+perm"))}
  c.step_caps["reuters"] = 1000
  c.step_caps["mnist@14"] = 3000
  c.sweep.widths = (32, 64, 128, 256, 512)
  return c
