"""The evaluation's default config, the full evaluation (`make evaluate`; by name:
`--config=eval_full`): the paper's protocol on held-out
data, every method on the same 64-64-32 relu network, 5 seeds, inner steps log-spaced up to
10^4, 1/5/10/50 labels per class, and the generalisation sweeps up to width 2048 and depth 10.
On a 2-core CPU it took 67 min with two processes sharing the pieces, about 1.5 h for one
alone (the width-2048 sweep point and the rule's 10^4 inner steps dominate; README,
"Results of eval_full.py"); eval_cpu is the under-an-hour run. config_checks.py
validates it. A config that lacks fields (written before they existed, or partial) is
completed from this one once, on entry (`evaluation.config_checks.complete`, called by
`pipeline.run`).

  python -m metaunsup.evaluation --rule=RULE --config=eval_full --out=OUT
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The full protocol's settings.

  Returns:
    A fresh `ml_collections.ConfigDict`; counts are integers, steps are inner steps,
    shots are labelled examples per class.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  # NAME@SIZE (images resized to SIZE x SIZE), +perm: a fixed random pixel permutation.
  c.datasets = (
    "fashion_mnist@14",
    "mnist@14",
    "fashion_mnist@28",
    "mnist@28",
    "fashion_mnist@14+perm",
    "mnist@14+perm",
    "reuters",
  )
  # Names of evaluation/methods.py's registry, or "local:KIND" for any registered local rule
  # (metaunsup.local_rule, e.g. metaunsup.rules.zoo's), run like the learned rule.
  c.methods = ("rule", "random_init", "vae", "supervised", "oja", "pca", "raw")
  c.widths = (64, 64, 32)  # the last layer is the representation every head reads
  c.activation = "relu"
  c.batch_size = 64  # unlabeled examples per inner step (rule, Oja, VAE)
  c.checkpoints = (0, 10, 30, 100, 300, 1000, 3000, 10000)
  c.shots = (1, 5, 10, 50)  # labelled training examples per class for the readout
  c.heads = ("ridge", "logistic")
  c.query_size = 2000  # test examples scored per seed
  c.reference_batch = 1024  # unlabeled examples whose batch-norm statistics are used
  c.num_seeds = 5
  # The step the headline tables report (None: the last checkpoint).
  c.report_step = None
  # Largest inner step per data set, where the full curve is not affordable: {spec: steps}.
  c.step_caps = {}
  c.oja = dict(lr=0.5)  # scaled by the input variance (rules/zoo/oja.py)
  c.vae = dict(latent=32, learning_rate=1e-3, batch_size=64)
  c.supervised = dict(steps=500, learning_rate=1e-3)
  # Fields of the local rules that "local:KIND" methods run: {KIND: {field: value}}; a kind
  # not listed runs with its own defaults.
  c.local_rules = {}
  # A local rule at its best per horizon: {KIND: {"STEPS": {field: value}}}. Each checkpoint
  # named is a run of its own from the shared init with that horizon's fields (e.g. the lr
  # a sweep on meta-training data chose for that many inner steps, with or without the
  # rule's published schedule); a checkpoint not named uses config.local_rules[KIND].
  c.local_rules_by_steps = {}
  # The paper's Fig. 5: rule against random init over widths, depths and activations.
  c.sweep = dict(
    enabled=True,
    dataset="fashion_mnist@14",
    steps=300,
    num_seeds=3,
    shots=10,
    head="ridge",
    base_width=64,
    base_depth=2,
    feature_width=32,
    base_activation="relu",
    widths=(32, 64, 128, 256, 512, 1024, 2048),
    depths=(1, 2, 3, 4, 6, 8, 10),
    activations=("relu", "leaky_relu", "tanh", "swish", "sigmoid", "step"),
  )
  return c
