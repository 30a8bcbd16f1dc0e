"""A task family that spans architectures (issue 35 item 1): the activation drawn per task
at each reset (`inner.InnerConfig.activations`, `family.activation_per_task`) and the
validation curve on several networks (`validation.networks`)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import (
  MECHANISM_RULE,
  assert_close_at_scale,
  synthetic_task_data,
  tiny_config,
  tiny_inner_config,
)
from metaunsup import base_model, inner, task_family
from metaunsup.configs import default as default_config
from metaunsup.rules.zoo import oja
from metaunsup.configs import compact_arch
from metaunsup.training import config_checks, setup, validation

NAMES = tuple(base_model.ACTIVATIONS)


def test_a_fixed_activation_draws_nothing_and_keeps_the_random_streams():
  cfg = tiny_inner_config()
  state = inner.init_task(jax.random.PRNGKey(0), 10, cfg)
  assert state.activation is None
  # The per-task draw has a key of its own: the network, key and length are the same.
  mixed = inner.init_task(jax.random.PRNGKey(0), 10, dataclasses.replace(cfg, activations=NAMES))
  for a, b in zip(
    jax.tree_util.tree_leaves((state.params, state.key, state.total)),
    jax.tree_util.tree_leaves((mixed.params, mixed.key, mixed.total)),
  ):
    np.testing.assert_array_equal(a, b)
  assert 0 <= int(mixed.activation) < len(NAMES)


def test_every_activation_is_drawn_and_redrawn_at_reset():
  cfg = tiny_inner_config(activations=NAMES)
  states = inner.init_tasks(jax.random.PRNGKey(1), 10, cfg, 300)
  assert set(np.asarray(states.activation).tolist()) == set(range(len(NAMES)))
  done = jnp.arange(300) % 2 == 0
  new, _ = inner.reset_finished(
    jax.random.PRNGKey(2),
    cfg,
    states.replace(step=jnp.where(done, states.total, 0)),
    jnp.zeros(300),
    10,
  )
  changed = np.asarray(new.activation != states.activation)
  assert changed[np.asarray(done)].mean() > 0.5 and not changed[~np.asarray(done)].any()


def test_a_drawn_activation_trains_as_that_activation_fixed():
  """One vmapped program of tasks of every activation (each branch computed, one selected)
  against the fixed-activation program of each: the same values up to float32 rounding of
  the fusions. Oja's rule: the learned rule's compile would be most of this test's time."""
  data = synthetic_task_data()
  rule = oja.Oja()
  theta = rule.init_theta(jax.random.PRNGKey(3))
  state = inner.init_task(jax.random.PRNGKey(4), 10, tiny_inner_config(rule=rule))

  @functools.partial(jax.jit, static_argnums=1)
  def run(states, cfg):
    return jax.vmap(lambda s: inner.truncated_loss(theta, cfg, s, data, 5))(states)

  batch = jax.tree_util.tree_map(lambda x: jnp.stack([x] * len(NAMES)), state)
  mixed = run(
    batch.replace(activation=jnp.arange(len(NAMES), dtype=jnp.int32)),
    tiny_inner_config(rule=rule, activations=NAMES),
  )
  for i, name in enumerate(NAMES):
    loss, (out, _) = run(batch, tiny_inner_config(rule=rule, activation=name))
    # Five rule steps and a ridge fit, each a few float32 roundings of weights of scale 1.
    assert_close_at_scale(
      jax.tree_util.tree_map(lambda x: x[i], (mixed[0], mixed[1][0].params.W)),
      jax.tree_util.tree_map(lambda x: x[i], (loss, out.params.W)),
      1e-4,
      name,
    )


def test_family_draws_per_task_only_when_asked():
  c = config_checks.complete(tiny_config())
  assert all(
    not b.cfg.activations for b in task_family.TaskFamily(c, setup.inner_config(c)).buckets
  )
  c.family.activation_per_task = True
  family = task_family.TaskFamily(c, setup.inner_config(c))
  assert all(b.cfg.activations == ("relu", "tanh") for b in family.buckets)
  assert family.describe()[0]["activation"] == ["relu", "tanh"]
  tasks = family.init_tasks(jax.random.PRNGKey(0))
  assert all(t.activation.shape == (2,) for t in tasks)


def test_compact_arch_spans_depths_widths_and_every_activation():
  c = config_checks.complete(compact_arch.get_config())
  config_checks.validate(c)
  assert set(c.family.activations) == set(NAMES) and c.family.activation_per_task
  assert max(c.family.depths) >= 4 and max(c.family.widths) >= 512
  nets = [validation.parse_network(n) for n in c.validation.networks]
  assert ("tanh", 4) in [(n.activation, len(n.widths) - 1) for n in nets]  # a deep tanh one
  assert max(max(n.widths) for n in nets) >= 1024  # and a wide one


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("networks", (64,), "validation.networks has 64"),
    ("networks", ("gelu:64-32",), "validation.networks has 'gelu:64-32'"),
    ("networks", ("relu:64-0",), "validation.networks has 'relu:64-0'"),
    ("networks", ("relu",), "validation.networks has 'relu'"),
  ],
)
def test_bad_networks_are_one_line_errors(field, value, message):
  c = default_config.get_config()
  c.validation[field] = value
  with pytest.raises(ValueError, match=message) as e:
    config_checks.validate(c)
  assert "\n" not in str(e.value)
  c.validation[field] = ()
  with c.unlocked():  # a config.json from a hand edit can hold any type
    del c.family["activation_per_task"]
    c.family.activation_per_task = "yes"
  with pytest.raises(ValueError, match="family.activation_per_task must be True or False"):
    config_checks.validate(c)


def test_validation_on_several_networks_reports_each():
  c = tiny_config(MECHANISM_RULE)  # the curve's machinery, whatever the rule (fast to compile)
  c.validation.every, c.validation.inner_steps, c.validation.tasks_per_dataset = 2, (2, 4), 1
  c.validation.networks = ("relu:16-8", "tanh:12-12-12-8")
  c = config_checks.complete(c)
  family = task_family.TaskFamily(c, setup.inner_config(c))
  v = validation.Validator(c, family, setup.rule_of(c))
  assert v.networks == ("relu:16-8", "tanh:12-12-12-8") and len(v.tasks) == 1
  theta = setup.rule_of(c).init_theta(jax.random.PRNGKey(0))
  row = v(theta)
  by_net = row["val_accuracy_by_network"]
  assert set(by_net) == set(v.networks) and set(by_net["relu:16-8"]) == {"2", "4"}
  # The headline is the mean over networks, each the mean over its tasks.
  assert row["val_accuracy"] == pytest.approx(np.mean([d["4"] for d in by_net.values()]))
  assert set(row["val_random_init_by_network"]) == set(v.networks)
  # One network alone is the curve from before: no per-network fields.
  c.validation.networks = ("relu:16-8",)
  single = validation.Validator(c, family, setup.rule_of(c))(theta)
  assert "val_accuracy_by_network" not in single
  assert single["val_accuracy"] == by_net["relu:16-8"]["4"]
