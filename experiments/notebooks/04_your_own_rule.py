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
# # Write your own local rule
#
# In `metaunsup` a *rule* is any hashable config with a method
# `update(theta, params, acts) -> params`: given the meta-parameters `theta`, the network's
# parameters and one forward pass on an unlabeled batch (`acts.xs[l]`: the input of layer
# `l`, `acts.xs[l + 1]`: its output), it returns the new parameters. The inner loop, the
# meta-objective, the meta-gradient, the task family and the sharding do not care which rule
# it is: `baselines/oja.py` is Oja's rule written this way, and the learned rule of
# `metaunsup/rule.py` is too.
#
# Here we write a rule of our own with three meta-parameters, meta-train them on a small
# task family with the project's own meta-step, and compare it with the shipped learned rule.

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
DATASETS = ("fashion_mnist",)   # meta-training data; ("digits", "mnist1d") need no download
IMAGE_SIZE = 14
WIDTHS = 64                     # one hidden layer of this width, then the representation
FEATURE_WIDTH = 32
TASKS_PER_DEVICE = 4
META_STEPS = 150
TRUNCATION = 10                 # inner steps unrolled per meta-step
EVAL_DATASET = "mnist"          # held out: never seen in meta-training
EVAL_WIDTHS = (64, 64, 32)
EVAL_STEPS = 300
EVAL_SEEDS = (0, 1, 2, 3, 4)
EVAL_QUERY = 2000

# %% [markdown]
# ## The rule
# A Hebbian rule with Oja's decay on each layer's *post-activations* `h` (Oja's own rule uses
# the linear output): `dW = a * x^T h / B - c * W (h^T h / B)` on batch-centred `x` and `h`,
# rescaled to a step of fixed size relative to `W` (the network normalises each unit's input,
# so only the direction of `W` matters). theta holds the two coefficients and the step size:
# meta-training decides how Hebbian and how self-limiting the rule should be, and how fast.
# Everything it reads is local to a synapse's two neurons plus the batch.

# %%
import dataclasses
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm
import metaunsup
from metaunsup import (data, default_config, estimators, evaluation, monitoring, sharding,
                       task_family, train)
from metaunsup.training import meta_step, truncation_schedule


@dataclasses.dataclass(frozen=True)
class HebbOjaRule:
    max_lr: float = 0.2

    def init_theta(self):
        # float32 explicitly: a weakly typed scalar would change type after the first
        # Adam update and compile the meta-step twice.
        return {"mix": jnp.ones(2, jnp.float32), "lr_logit": jnp.zeros((), jnp.float32)}

    def update(self, theta, params, acts):
        lr = self.max_lr * jax.nn.sigmoid(theta["lr_logit"])
        new_w = []
        for l, w in enumerate(params.W):
            x = acts.xs[l] - acts.xs[l].mean(0)
            h = acts.xs[l + 1] - acts.xs[l + 1].mean(0)
            batch = x.shape[0]
            dw = theta["mix"][0] * x.T @ h / batch - theta["mix"][1] * w @ (h.T @ h / batch)
            dw = dw / (jnp.sqrt(jnp.mean(dw ** 2)) + 1e-8)   # unit rms
            new_w.append(w + lr * jnp.sqrt(jnp.mean(w ** 2)) * dw)
        return params.replace(W=new_w)


my_rule = HebbOjaRule()

# %% [markdown]
# ## A small task family
# The package's default config, narrowed: one bucket of same-shaped tasks over `DATASETS`,
# as many tasks as a multiple of the devices (they are sharded over all of them). Only the
# rule differs from an ordinary `make meta-train`: we hand the family our rule in its base
# `InnerConfig`.

# %%
config = default_config.get_config()
f = config.family
f.datasets, f.image_sizes, f.widths, f.depths = tuple(DATASETS), (IMAGE_SIZE,), (WIDTHS,), (1,)
f.feature_width, f.activations, f.augment = FEATURE_WIDTH, ("relu",), ()
mesh = sharding.task_mesh()
f.num_buckets, f.tasks_per_bucket = 1, TASKS_PER_DEVICE * mesh.size
config.inner.min_total_steps, config.inner.max_total_steps = 2 * TRUNCATION, 30 * TRUNCATION

for name in dict.fromkeys(tuple(DATASETS) + (EVAL_DATASET,)):   # fetch on a fresh runtime
    try:
        data.load(name, IMAGE_SIZE)
    except FileNotFoundError:
        from metaunsup.sources import setup as sources_setup
        if sources_setup.main([name]) != 0:
            raise RuntimeError(f"could not prepare {name} here (see above); use DATASETS = "
                               "('digits',) and EVAL_DATASET = 'digits'") from None

base = dataclasses.replace(train.inner_config(config), rule=my_rule)
family = task_family.TaskFamily(config, base)
print(family.describe(), f"on {mesh.size} device(s)")

# %% [markdown]
# ## Meta-train theta
# The loop of `metaunsup/train.py`, written out: each meta-step reads every task's data,
# runs the jitted `training.meta_step.meta_step` (truncated backprop through `TRUNCATION`
# inner steps of our rule, Adam on theta), and gives tasks that reached their length a fresh network.

# %%
cfgs = tuple(b.cfg for b in family.buckets)
opt = meta_step.make_optimizer(config.meta)
ESTIMATOR = estimators.TruncatedBPTT()  # or estimators.PES(...), estimators.AntitheticES(...)
key, k_tasks = jax.random.split(jax.random.PRNGKey(0))
theta0 = my_rule.init_theta()
# Placed as train.py places them (theta and Adam state replicated, tasks sharded), so the
# meta-step's inputs look alike at every step and it compiles once.
theta, opt_state, key = sharding.replicate((theta0, opt.init(theta0), key), mesh)
tasks = tuple(sharding.shard_tasks(t, mesh) for t in truncation_schedule.init_family_tasks(k_tasks, family))
ids = family.initial_datasets()
est_states = meta_step.init_estimator_states(ESTIMATOR, theta, tasks)  # () for truncated BPTT
history = []
for step in (bar := tqdm(range(META_STEPS), desc="meta-train")):
    task_data, _ = family.step_data(step, ids)
    task_data = tuple(sharding.shard_tasks(d, mesh) for d in task_data)
    key, k_step = jax.random.split(key)
    theta, opt_state, tasks, est_states, done, m = meta_step.meta_step(
        theta, opt_state, tasks, est_states, task_data, k_step, cfgs=cfgs, opt=opt,
        k=TRUNCATION, estimator=ESTIMATOR)
    ids = family.reassign(step, ids, sharding.to_host(done))
    history.append({"step": step, "meta_loss": float(m["meta_loss"]),
                    "query_accuracy": float(m["query_accuracy"])})
    bar.set_postfix(loss=f"{history[-1]['meta_loss']:.3f}", acc=f"{history[-1]['query_accuracy']:.3f}")
print("theta:", jax.tree_util.tree_map(lambda v: np.round(np.asarray(v), 3).tolist(), theta))

# %%
monitoring.plot_curves(history, title="our Hebb-Oja rule: meta-training")
plt.show()

# %% [markdown]
# ## Compare with the shipped learned rule, held out
# The same protocol for every rule: a fresh `EVAL_WIDTHS` network trained `EVAL_STEPS` inner
# steps on `EVAL_DATASET`'s unlabeled train split, read out on its test split with 10 labels
# per class (ridge), same seeds and labelled examples; `steps=0` gives random init.

# %%
ds = data.load(EVAL_DATASET, IMAGE_SIZE)
rules = {"our rule, before meta-training": metaunsup.Rule(theta=theta0, config=my_rule),
         "our rule, meta-trained": metaunsup.Rule(theta=theta, config=my_rule),
         "shipped learned rule": metaunsup.load_rule("pretrained")}
scores = {}
for name, r in rules.items():
    res = evaluation.fewshot_eval(r, ds, widths=EVAL_WIDTHS, activation="relu",
                                  steps=EVAL_STEPS, seeds=EVAL_SEEDS, batch_size=64,
                                  query_size=EVAL_QUERY)
    scores.setdefault("random init", res["random_init"]["ridge"])   # the same for every rule
    scores[name] = res["rule"]["ridge"]
for name, accs in scores.items():
    mean, sem = evaluation.mean_sem(accs)
    print(f"{name:>32}: {mean:.3f} ± {sem:.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 2.8))
names = list(scores)
ax.barh(names, [np.mean(scores[n]) for n in names],
        xerr=[evaluation.mean_sem(scores[n])[1] if len(scores[n]) > 1 else 0 for n in names])
ax.set_xlabel(f"10-shot accuracy on {EVAL_DATASET} (held out), {EVAL_STEPS} inner steps")
ax.grid(alpha=0.3, axis="x")
plt.show()

# %% [markdown]
# ## Where to go from here
# - Give the rule more to learn: per-layer coefficients, a term in `z` (pre-activations), a
#   top-down signal. Any jax function of `theta`, `params` and `acts` works, as long as it
#   stays local (a synapse reads only its two neurons and batch statistics).
# - A new *term* in the learned rule: add it to `rule.update_terms` in `metaunsup/rule.py`
#   and its name to `config.rule.terms`; the learned mix weighs it.
# - Run it at scale: `metaunsup.train_rule` and `make meta-train` take the same config.
