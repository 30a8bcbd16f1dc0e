"""Reference points for the learned rule: Oja's rule, a VAE, supervised backprop and PCA."""

from metaunsup import submodules


__getattr__ = submodules.loader(__name__)
