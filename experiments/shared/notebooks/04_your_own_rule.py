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
# In `metaunsup` a *rule* is a `LocalRule` (`metaunsup/local_rule.py`): a frozen dataclass,
# registered under a `kind`, with `init_theta(key) -> theta`, its meta-parameters, and
# `update(theta, params, acts) -> params`: given theta, the network's parameters and one
# forward pass on an unlabeled batch (`acts.xs[l]`: the input of layer `l`, `acts.xs[l + 1]`:
# its output), it returns the new parameters. The inner loop, the meta-objective, the
# meta-gradient, the task family, the sharding, checkpoints, resume, rule files and the
# evaluation do not care which rule it is: `metaunsup/rules/zoo/oja.py` is Oja's rule written
# this way, and the learned rule of `metaunsup/rules/learned/` is too.
#
# Here we write a rule of our own with three meta-parameters, meta-train them on a small
# task family with `metaunsup.train_rule` (everything `make meta-train` does), extend the
# run, and compare the rule with the shipped learned rule.

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
MORE_STEPS = 50                 # then the run is extended by this many meta-steps (a resume)
TRUNCATION = 10                 # inner steps unrolled per meta-step
WORKDIR = "runs/hebb_oja"       # the run's checkpoints, metrics and rule; rerunning resumes it
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
#
# `local_rule.register("hebb_oja")` gives it a kind: rule files, checkpoints and the run's
# `config.json` name it, and `metaunsup.load_rule` finds the class again from it (in any
# process that has defined it). `LocalRuleBase` supplies the rest of the interface
# (`to_dict`, `from_dict`, `check_theta`); `summary` says what the run's summary.json reports.

# %%
import dataclasses
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import metaunsup
from metaunsup import data, evaluation, local_rule, monitoring
from metaunsup.configs import default as default_config


@local_rule.register("hebb_oja")
@dataclasses.dataclass(frozen=True)
class HebbOjaRule(local_rule.LocalRuleBase):
    max_lr: float = 0.2

    def init_theta(self, key):
        del key  # one fixed start: both terms at 1, the step at half its maximum
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

    def summary(self, theta):
        return {"hebb_oja_mix": np.asarray(theta["mix"]).round(4).tolist(),
                "hebb_oja_lr": float(self.max_lr * jax.nn.sigmoid(theta["lr_logit"]))}


my_rule = HebbOjaRule()

# %% [markdown]
# ## A small task family
# The package's default config, narrowed: one bucket of same-shaped tasks over `DATASETS`,
# as many tasks as a multiple of the devices (they are sharded over all of them), and a
# small held-out check at the end of the run. `train_rule(rule=my_rule)` puts our rule in
# the config's `rule` section (`{"kind": "hebb_oja", "max_lr": 0.2}`); nothing else differs
# from an ordinary `make meta-train`.

# %%
config = default_config.get_config()
f = config.family
f.datasets, f.image_sizes, f.widths, f.depths = tuple(DATASETS), (IMAGE_SIZE,), (WIDTHS,), (1,)
f.feature_width, f.activations, f.augment = FEATURE_WIDTH, ("relu",), ()
f.num_buckets, f.tasks_per_bucket = 1, TASKS_PER_DEVICE * jax.device_count()
config.inner.truncation_lengths = (TRUNCATION,)
config.inner.min_total_steps, config.inner.max_total_steps = 2 * TRUNCATION, 30 * TRUNCATION
config.meta.steps = META_STEPS
e = config.eval   # the run's own held-out check, in its summary.json
e.datasets, e.image_size, e.widths = (EVAL_DATASET,), IMAGE_SIZE, EVAL_WIDTHS
e.inner_steps, e.num_seeds, e.query_size = EVAL_STEPS, len(EVAL_SEEDS), EVAL_QUERY
e.heads = ("ridge",)

for name in dict.fromkeys(tuple(DATASETS) + (EVAL_DATASET,)):   # fetch on a fresh runtime
    try:
        data.load(name, IMAGE_SIZE)
    except FileNotFoundError:
        from metaunsup.sources import setup as sources_setup
        if sources_setup.main([name]) != 0:
            raise RuntimeError(f"could not prepare {name} here (see above); use DATASETS = "
                               "('digits',) and EVAL_DATASET = 'digits'") from None

# %% [markdown]
# ## Meta-train theta
# `train_rule` runs the loop of `metaunsup/train.py` on our rule: each meta-step reads every
# task's data, runs the jitted meta-step (truncated backprop through `TRUNCATION` inner steps
# of our rule, Adam on theta) and gives tasks that reached their length a fresh network; it
# checkpoints to `WORKDIR`, and at the end writes the rule file and summary.json.

# %%
result = metaunsup.train_rule(config, WORKDIR, rule=my_rule)
print("theta:", jax.tree_util.tree_map(lambda v: np.round(np.asarray(v), 3).tolist(),
                                       result.rule.theta))
print({k: result.summary[k] for k in ("hebb_oja_mix", "hebb_oja_lr", "fewshot_acc_rule",
                                      "fewshot_acc_random_init")})

# %% [markdown]
# ## Extend the run
# The same call with more meta-steps and the same `WORKDIR` resumes from the last checkpoint
# (an interrupted run resumes the same way): the config, our rule's kind and fields
# included, must match the one in `WORKDIR/config.json`.

# %%
result = metaunsup.train_rule(config, WORKDIR, rule=my_rule,
                              meta={"steps": META_STEPS + MORE_STEPS})
print(f"{len(result.history)} meta-steps in {result.workdir}, {META_STEPS} of them from the "
      "first call")
monitoring.plot_curves(result.history, title="our Hebb-Oja rule: meta-training")
plt.show()

# %% [markdown]
# ## Compare with the shipped learned rule, held out
# The same protocol for every rule: a fresh `EVAL_WIDTHS` network trained `EVAL_STEPS` inner
# steps on `EVAL_DATASET`'s unlabeled train split, read out with 10 labels per class
# (ridge), same seeds and labelled examples; `steps=0` gives random init. Our rule comes back
# from its workdir with `load_rule`, like any other.

# %%
ds = data.load(EVAL_DATASET, IMAGE_SIZE)
rules = {"our rule, before meta-training":
             metaunsup.Rule(theta=my_rule.init_theta(jax.random.PRNGKey(0)), config=my_rule),
         "our rule, meta-trained": metaunsup.load_rule(WORKDIR),
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
# - Another estimator or objective: `config.meta.estimator = "pes"` (or `"es"`),
#   `config.meta.objective = "mean_over_truncation"`; the rest of the call stays.
# - A new *term* in the learned rule: add it to `weight_update_terms` in
#   `metaunsup/rules/learned/terms.py` and its name to `config.rule.terms`; the mix weighs it.
# - Run it at scale: the same `train_rule` call with the default task family (drop the
#   narrowing above), on as many devices as the runtime has.
