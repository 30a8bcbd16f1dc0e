"""Default meta-training config (`make meta-train`): Fashion-MNIST 14x14, train split, on a
2-core CPU in well under an hour. Override any field: --config.meta.steps=100."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = dict(name="fashion_mnist", image_size=14, fallback="digits")
  # Base network during meta-training: 2 hidden layers + the 32-d representation.
  c.model = dict(widths=(64, 64, 32), activation="relu", permute_inputs=True)
  c.rule = dict(channels=16, hidden=32, readout_rank=4,
                terms=("lowrank", "lowrank_w", "lowrank_gauss", "hebbian", "decorrelation",
                       "decay", "within_layer"),
                unit_id_features=True, cross_unit_mixing=True,
                lr_max=0.05, bias_lr_max=0.02, anti_collapse=0.05, init_lr_logit=0.0)
  c.inner = dict(num_tasks=8, batch_size=64, truncation_lengths=(5, 10),
                 min_total_steps=30, max_total_steps=300, reference_batch=256,
                 remat=False)  # True: O(sqrt(k)) memory for long truncations, some recompute
  c.heads = dict(shots=10, query_per_class=10, ridge_lambda=0.1)
  c.meta = dict(steps=600, learning_rate=3e-3, clip_norm=1.0, max_consecutive_skips=50,
                checkpoint_every=50)
  # Held-out evaluation: Fashion-MNIST test split, 10 labels per class, 5 seeds.
  c.eval = dict(num_seeds=5, inner_steps=300, batch_size=64, query_size=2000,
                widths=None, heads=("ridge", "logistic"))
  return ml_collections.ConfigDict(c)
