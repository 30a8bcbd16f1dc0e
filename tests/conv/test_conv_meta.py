"""Meta-training on conv networks (issue 38): an `inner.InnerConfig` with `layers` trains the
conv network of `metaunsup.conv` inside the inner problem (its step is the conv network's
step; a whole-image kernel scores as the MLP's dense layer), the task family's
`conv_networks` make conv buckets, bad descriptions are refused in one line before
anything runs, and a PES run meta-trains, validates and evaluates a conv rule end to end."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import metaunsup
from metaunsup import inner, local_rule, task_family
from metaunsup.conv import network, train as conv_train
from metaunsup.rules.learned import LearnedRule
from metaunsup.training import config_checks, validation
from conv_helpers import COMPACT, compact_theta
from helpers import MECHANISM_RULE, assert_close_at_scale, synthetic_task_data, tiny_config

LAYERS = ("conv3x3:3", "pool2", "dense:4")


def _cfg(**kw) -> inner.InnerConfig:
  base = dict(
    rule=COMPACT,
    layers=LAYERS,
    image_shape=(8, 8),
    batch_size=4,
    shots=2,
    query_per_class=2,
    num_classes=3,
    reference_batch=8,
  )
  return inner.InnerConfig(**{**base, **kw})


def test_a_conv_configs_inner_step_is_the_conv_networks_step():
  cfg, theta = _cfg(), compact_theta()
  params = inner.init_params(jax.random.PRNGKey(0), 64, cfg)
  assert isinstance(params, network.ConvParams)
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 64))
  info = local_rule.StepInfo(step=jnp.int32(3), total=jnp.int32(10))
  got, state = jax.jit(inner.inner_step, static_argnums=(1, 4))(
    theta, cfg, params, x, "relu", None, info
  )
  arch = network.architecture(LAYERS, (8, 8, 1))
  want = jax.jit(conv_train.inner_step, static_argnums=(0, 2, 5))(
    COMPACT, theta, arch, params, x.reshape(4, 8, 8, 1), "relu", jnp.int32(3)
  )
  # Two programs of the same operations (one reshapes its input inside): equal on this
  # machine's CPU, but a compiler may fuse them otherwise elsewhere, so compare at float32
  # rounding of each leaf's scale; a wrong layer, patch order or step moves whole leaves.
  assert_close_at_scale(got, want, rel=1e-5, err_msg="inner.inner_step vs conv inner_step")
  assert state is None


def test_a_whole_image_kernel_scores_as_the_mlps_dense_layer():
  """A conv layer whose kernel is the image is the MLP's dense layer on the pixels in
  order: the meta-objective's features, batch norm and readout must not tell them apart."""
  conv_cfg = _cfg(layers=("conv8x8:5",))
  mlp_cfg = dataclasses.replace(conv_cfg, layers=(), widths=(5,), permute_inputs=False)
  conv_params = inner.init_params(jax.random.PRNGKey(0), 64, conv_cfg)
  mlp_params = inner.init_params(jax.random.PRNGKey(0), 64, mlp_cfg)
  mlp_params = mlp_params.replace(W=list(conv_params.W), b=list(conv_params.b))
  data = synthetic_task_data(num_classes=3, dim=64, n=60)
  key = jax.random.PRNGKey(2)
  got = inner.meta_loss(conv_cfg, conv_params, data, key)
  want = inner.meta_loss(mlp_cfg, mlp_params, data, key)
  # x W on one patch (the whole image) and on the flattened image: the same 64 products,
  # summed by a convolution or by a matmul, whose order may differ in float32; the ridge
  # readout amplifies that rounding, so compare at 1e-4 of the loss's scale.
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4)


@pytest.mark.parametrize(
  "kw, message",
  [
    (dict(image_shape=()), "needs image inputs: set image_shape"),
    (dict(layers=("conv9x9:3",)), "conv9x9:3"),
    (dict(layers=("conv3x3:3", "dense:4", "pool2")), "follows a dense layer"),
    (dict(rule=LearnedRule(channels=3, hidden=4, readout_rank=2)), "compact rule or a zoo rule"),
  ],
)
def test_a_bad_conv_config_is_refused_in_one_line(kw, message):
  with pytest.raises(ValueError, match=message) as info:
    _cfg(**kw)
  assert "\n" not in str(info.value)


def _conv_config(**family) -> ml_collections.ConfigDict:
  c = tiny_config(rule=MECHANISM_RULE, estimator="pes", es_pairs=1, es_sigma=0.1)
  c.family.conv_networks = ("conv3x3:4 pool2 dense:8",)
  c.eval.conv_layers = "conv3x3:4 pool2 dense:8"
  for k, v in family.items():
    c.family[k] = v
  return c


def test_the_family_draws_conv_buckets():
  c = config_checks.complete(_conv_config())
  config_checks.validate(c)
  family = task_family.TaskFamily(c, inner.InnerConfig(rule=metaunsup.rules.compact.CompactRule()))
  assert all(b.cfg.layers for b in family.buckets)
  assert family.describe()[0]["layers"] == ["conv3x3:4", "pool2", "dense:8"]
  assert "widths" not in family.describe()[0]
  states = family.init_tasks(jax.random.PRNGKey(0))
  assert all(isinstance(s.params, network.ConvParams) for s in states)


@pytest.mark.parametrize(
  "section, field, value, message",
  [
    ("family", "conv_networks", "conv3x3:4 dense:8", "must be a list of layer descriptions"),
    ("family", "conv_networks", ("conv3x3:4 blur dense:8",), "'blur' is not a layer"),
    ("eval", "conv_layers", ("conv3x3:4",), "must be a layer description"),
    ("eval", "conv_layers", "conv3x3:0", "has a size, stride or count of 0"),
    ("family", "conv_networks", ("conv9x9:4 dense:8",), "does not work on the 8x8 images"),
    ("eval", "conv_layers", "conv5x5:4 pool2 conv3x3:4", "does not work on the 8x8 images"),
    ("validation", "networks", ("relu:conv9x9:4",), "does not work on the 8x8 images"),
  ],
)
def test_config_checks_refuse_a_bad_conv_description(section, field, value, message):
  c = _conv_config()
  c[section] = dict(c[section].to_dict(), **{field: value})  # past the ConfigDict's types
  with pytest.raises(ValueError, match=message) as info:
    config_checks.validate(c)
  assert "\n" not in str(info.value)


def test_a_conv_family_refuses_vectors_and_networks_that_do_not_fit():
  base = inner.InnerConfig(rule=metaunsup.rules.compact.CompactRule())
  c = config_checks.complete(_conv_config(datasets=("digits", "mnist1d")))
  with pytest.raises(ValueError, match=r"read images, and family.datasets has \['mnist1d'\]"):
    task_family.TaskFamily(c, base)
  c = config_checks.complete(_conv_config(conv_networks=("conv5x5:4 pool2 conv3x3:4 dense:8",)))
  with pytest.raises(ValueError, match="does not fit|too small|no output"):
    task_family.TaskFamily(c, base)


def test_validation_reads_conv_networks():
  net = validation.parse_network("relu:conv5x5:16 pool2 dense:32")
  assert net.layers and not net.widths and net.name == "relu:conv5x5:16 pool2 dense:32"
  assert validation.parse_network("tanh:64-32") == validation.Network("tanh", (64, 32))
  with pytest.raises(ValueError, match="'relu:conv5x5:16 blur'.*'blur' is not a layer"):
    validation.parse_network("relu:conv5x5:16 blur")


def test_pes_meta_trains_a_conv_rule_end_to_end(tmp_path):
  c = _conv_config()
  c.meta.steps, c.validation.every, c.validation.inner_steps = 2, 1, (4,)
  result = metaunsup.train_rule(c, tmp_path / "run")
  rule, history = result.rule, result.history
  assert len(history) == 2 and all(np.isfinite(r["meta_loss"]) for r in history)
  assert "val_accuracy" in history[0] and "val_accuracy" in history[-1]
  theta0 = metaunsup.rules.compact.CompactRule(terms=("oja",)).init_theta(jax.random.PRNGKey(0))
  assert set(rule.theta) == set(theta0)
  summary = json.loads((tmp_path / "run" / "summary.json").read_text())
  assert 0.0 <= summary["fewshot_acc_rule"] <= 1.0
  assert [b["layers"] for b in summary["buckets"]] == [["conv3x3:4", "pool2", "dense:8"]] * 2
