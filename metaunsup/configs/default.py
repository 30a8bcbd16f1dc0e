"""Default meta-training config (`make meta-train`): a task family over four real data sets
(Fashion-MNIST train split, rendered-font characters, scikit-learn digits, MNIST-1D), several
architectures and activations, inputs at most 16x16, sized for a 2-core CPU (about an hour alone;
the paper's ranges, widths 64-512 and depth 2-5, are `--config.family.*` overrides away).
MNIST, the Fashion-MNIST test split and the Reuters text task are held out: the sampler refuses
to meta-train on them. Override any field: --config.meta.steps=100. `metaunsup.train_rule()`
uses it without a config; `--config=default` and `make meta-train` name it."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The default meta-training config (module docstring); its fields are the ones
  `training.config_checks` requires (less the OPTIONAL ones).

  Returns:
    ml_collections.ConfigDict with seed and the sections family, rule, inner, heads, meta,
    eval, validation (inner steps and meta-steps in steps, sizes in pixels, cache in MiB).
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  # A task = (data set, 10-class subset, image size, widths, depth, activation, permutation,
  # batch size, total inner steps). `num_buckets` shapes are drawn from these ranges with
  # the seed; each bucket holds `tasks_per_bucket` tasks that re-draw their data set,
  # permutation and length at every reset.
  c.family = dict(
    datasets=("fashion_mnist", "alphabet", "digits", "mnist1d"),
    held_out=("mnist", "reuters", "fashion_mnist:test"),
    image_sizes=(8, 14, 16),
    depths=(1, 2),
    widths=(64, 128),
    feature_width=32,
    # Bucket i gets activations[i % 4]: relu, the evaluation's activation, is always in
    # the family (a random draw left it out and cost 0.03 held out: ablate_family).
    activations=("relu", "leaky_relu", "swish", "tanh"),
    # True: every task draws its activation from all of `activations` at each reset (one
    # bucket vmaps tasks of different activations), instead of one per bucket.
    activation_per_task=False,
    # Conv networks instead of MLPs, one per bucket in turn (issue 38): layer descriptions
    # such as "conv5x5:16 pool2 conv3x3:32 pool2 dense:32" (metaunsup.conv.layers); () none.
    conv_networks=(),
    batch_sizes=(64,),
    num_buckets=3,
    tasks_per_bucket=3,
    permute_inputs=True,
    pool_per_class=128,  # examples per class handed to a task each meta-step
    cache_mb=512.0,  # sources smaller than this (MiB) are read into memory once
    # Augmentations of the labelled examples; their parameters are extra ridge targets.
    # Off by default: with them the family did not learn (experiments/family_ablation/results:
    # held-out Fashion-MNIST 0.334 with, 0.602 without, at 150 meta-steps, seed 0).
    augment=(),
    max_shift=2.0,
    max_rotation=15.0,
    max_noise=0.3,
  )
  # The rule to meta-train: `kind` names a registered `local_rule` class (metaunsup/rule.py's
  # learned rule here), the other fields are its config (`train_rule(rule=...)` replaces
  # the whole section with another rule's).
  c.rule = dict(
    kind="learned",
    channels=16,
    hidden=32,
    readout_rank=4,
    terms=(
      "lowrank",
      "lowrank_w",
      "lowrank_gauss",
      "hebbian",
      "decorrelation",
      "decay",
      "within_layer",
    ),
    unit_id_features=True,
    cross_unit_mixing=True,
    lr_max=0.05,
    bias_lr_max=0.02,
    anti_collapse=0.05,
    init_lr_logit=0.0,
  )
  c.inner = dict(
    truncation_lengths=(5, 10),
    min_total_steps=30,
    max_total_steps=300,
    reference_batch=256,
    remat=False,  # True: O(sqrt(k)) memory for long truncations, some recompute
    # Forward-only, unscored inner steps of every task after each truncation:
    # tasks reach old ages (up to max_total_steps) at a fraction of the cost.
    advance_steps=0,
  )
  c.heads = dict(
    shots=10,
    query_per_class=10,
    ridge_lambda=0.1,
    # "standardize": a rule can't lower the meta-loss by rescaling features (issue 29).
    readout_scaling="none",
  )
  c.meta = dict(
    steps=700,
    learning_rate=3e-3,
    clip_norm=1.0,
    max_consecutive_skips=50,
    checkpoint_every=50,
    # How the meta-gradient is formed: truncated_bptt | pes | es | es_single (estimators/).
    # ES, PES and ES-Single: perturbation scale, antithetic pairs per task, and |L+ - L-|
    # clipped to es_clip (0: unclipped).
    estimator="truncated_bptt",
    es_sigma=0.01,
    es_pairs=1,
    es_clip=1.0,
    # What a truncation is scored on: "final" (the meta-loss after it) or
    # "mean_over_truncation" (mean over objective_points points of it); plus
    # worsening_penalty x every increase from one scored point to the next.
    objective="final",
    objective_points=2,
    worsening_penalty=0.0,
    # A rule file or workdir whose theta starts meta-training (fine-tuning a
    # shipped rule on a new task family); "" starts from a random theta.
    init_rule="",
  )
  # Held-out evaluation: a 64-64-32 relu network trained by the rule on each data set's
  # unlabeled train split, read out on its test split with 10 labels per class, 5 seeds.
  c.eval = dict(
    datasets=("fashion_mnist", "mnist"),
    image_size=14,
    widths=(64, 64, 32),
    activation="relu",
    num_seeds=5,
    inner_steps=300,
    batch_size=64,
    query_size=2000,
    heads=("ridge", "logistic"),
    # A conv network instead of the MLP of `widths` (issue 38), e.g. "conv5x5:16 pool2
    # conv3x3:32 pool2 dense:32" (metaunsup.conv.layers); "" none.
    conv_layers="",
  )
  # The validation curve (metrics.jsonl's val_accuracy, TensorBoard, curves.png): every
  # `every` meta-steps (0: off), and at a run's last step, the current rule trains fixed
  # tasks (seeds 0..tasks_per_dataset-1 per family data set, eval's network, image size and
  # batch) for each of `inner_steps`, read out with heads.shots labels per class and query_per_class
  # queries per class, all from the validation part: the last heads.shots + query_per_class
  # examples of every class of the train split, which meta-training then never reads.
  # One pass here takes about two meta-steps' time (22 s against 10.4 s on 2 loaded CPU
  # cores), so every=50 costs about 4% of the run, plus one compilation.
  # `networks`: "ACTIVATION:W1-...-WL" networks the same tasks also train (the curve is the
  # mean over them); () is eval's network alone.
  c.validation = dict(
    every=50, inner_steps=(100, 300), tasks_per_dataset=2, query_per_class=10, networks=()
  )
  return ml_collections.ConfigDict(c)
