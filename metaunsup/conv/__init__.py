"""Convolutional base networks for the hand-designed rules and the compact rule (issue 38):
a layer description such as ("conv5x5:32", "pool2", "conv3x3:64", "avgpool2", "dense:32")
(`layers`), the network and its forward pass on images [N, H, W, C] (`network`), a rule's
step on it, every layer updated from its own input, a conv layer's being its patches
(`update`), training on unlabeled images (`train.apply_rule`), and image data sets as
images (`images`)::

  from metaunsup import conv
  from metaunsup.rules.zoo import KrotovHopfield

  mnist = conv.images.load("mnist")  # [N, 28, 28, 1], standardised
  model = conv.apply_rule(KrotovHopfield(lr=0.1), mnist.train_x, steps=500, batch_size=8,
                          layers=("conv5x5s2:16", "pool2", "dense:32"), standardize=False)
  model.features(mnist.test_x)  # [M, 32]
"""

from metaunsup import submodules
from metaunsup.conv.train import ConvModel, apply_rule

__all__ = ["ConvModel", "apply_rule"]

__getattr__ = submodules.loader(__name__)
