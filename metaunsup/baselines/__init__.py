"""Reference points for the learned rule: Oja's rule, a VAE, supervised backprop and PCA."""
