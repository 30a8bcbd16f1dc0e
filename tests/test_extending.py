"""Extending metaunsup (issue 27, item 5): a baseline, a local rule to evaluate and a
meta-gradient estimator, each defined and registered in this file only, run through the
public entry points (`pipeline.run`, `metaunsup.train_rule`) with no change to the package."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metaunsup
from helpers import MECHANISM_RULE, tiny_config
from metaunsup import base_model, estimators, local_rule
from metaunsup.configs import eval_full
from metaunsup.evaluation import config_checks, methods, pipeline


@methods.register("random_projection", display="random projection")
def random_projection(ctx: methods.SeedContext) -> None:
  """A Gaussian random projection of the inputs to the representation's width, read out
  like every other method (the toy baseline)."""
  w = np.random.default_rng(ctx.seed).normal(size=(ctx.ds.input_dim, ctx.config.widths[-1]))
  ctx.add(0, ctx.readout.score(ctx.support_x() @ w, ctx.query_x() @ w))


@local_rule.register("toy_hebb")
@dataclasses.dataclass(frozen=True)
class ToyHebb(local_rule.LocalRuleBase):
  """Plain Hebbian growth of every layer, W += rate x^T y / B (no meta-parameters)."""

  rate: float = 0.01
  display_name = "toy Hebb"

  def update(
    self, theta, params: base_model.BaseParams, acts: base_model.Activations
  ) -> base_model.BaseParams:
    del theta
    return params.replace(
      W=[w + self.rate * x.T @ (x @ w) / x.shape[0] for w, x in zip(params.W, acts.xs)]
    )


TRACED = []


@estimators.register("toy_sign")
@dataclasses.dataclass(frozen=True)
class SignOfBPTT:
  """Truncated BPTT's meta-gradient, element-wise sign (signSGD's direction): the toy
  estimator. No `from_config`: the registry builds it with no arguments."""

  def init(self, theta, states):
    del theta, states
    return ()

  def estimate(self, theta, est_state, states, data, key, truncation):
    TRACED.append(type(self).__name__)  # runs when the meta-step is traced, not per step
    mg = estimators.TruncatedBPTT().estimate(theta, est_state, states, data, key, truncation)
    return mg.replace(grads=jax.tree_util.tree_map(jnp.sign, mg.grads))


def tiny_eval_config():
  c = eval_full.get_config()
  c.datasets = ("digits@8",)
  c.methods = ("rule", "random_init", "random_projection", "local:toy_hebb")
  c.local_rules = {"toy_hebb": {"rate": 0.05}}
  c.widths, c.checkpoints, c.shots, c.heads = (16, 8), (0, 3), (1, 5), ("ridge",)
  c.num_seeds, c.query_size, c.reference_batch = 2, 100, 64
  c.sweep.enabled = False
  return c


@pytest.mark.slow
def test_a_baseline_and_a_local_rule_of_this_file_run_in_the_evaluation(tmp_path):
  config = tiny_eval_config()
  results = pipeline.run("pretrained", config, tmp_path, log=lambda line: None)
  by_method = {}
  for r in results["records"]:
    by_method.setdefault(r["method"], {})[(r["step"], r["seed"], r["shots"])] = r["accuracy"]
  seeds = results["seeds"]
  assert set(by_method["random_projection"]) == {(0, s, k) for s in seeds for k in (1, 5)}
  assert set(by_method["local:toy_hebb"]) == {
    (t, s, k) for t in (0, 3) for s in seeds for k in (1, 5)
  }
  # A local rule starts from the init every method shares: at step 0 it is random init.
  for s in seeds:
    for k in (1, 5):
      assert by_method["local:toy_hebb"][(0, s, k)] == by_method["random_init"][(0, s, k)]
  assert methods.local_rule_config(config_checks.complete(config), "toy_hebb") == ToyHebb(rate=0.05)
  md = (tmp_path / "results.md").read_text()
  assert "random projection" in md and "toy Hebb" in md
  # The rule's registered display name heads its curve column; the baseline has no curve.
  assert "| inner steps | learned rule | toy Hebb |" in md
  with np.load(tmp_path / "first_layer.npz") as z:
    assert {"random_init", "rule", "local:toy_hebb"} <= set(z.files)
  for name in ("curves.png", "shots.png", "receptive_fields.png"):
    assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("methods", ("rule", "local:no_such_rule"), "unknown rule kind 'no_such_rule'"),
    ("local_rules", {"toy_hebb": {"nope": 1}}, r"config.local_rules\['toy_hebb'\]: unknown"),
  ],
)
def test_bad_local_rule_methods_are_one_line_errors(field, value, match):
  config = tiny_eval_config()
  config[field] = value
  with pytest.raises(ValueError, match=match) as e:
    config_checks.check_config(config)
  assert "\n" not in str(e.value)


@pytest.mark.slow
def test_an_estimator_of_this_file_meta_trains_through_train_rule(tmp_path):
  TRACED.clear()
  result = metaunsup.train_rule(
    # An estimator sees the rule through theta alone: the mechanism rule (fast to compile).
    tiny_config(MECHANISM_RULE),
    tmp_path / "run",
    meta={"estimator": "toy_sign", "steps": 2},
  )
  assert TRACED and set(TRACED) == {"SignOfBPTT"}
  assert len(result.history) == 2
  assert all(np.isfinite(r["meta_loss"]) for r in result.history)
  assert (
    json.loads((tmp_path / "run" / "config.json").read_text())["meta"]["estimator"] == "toy_sign"
  )
  summary = result.summary
  assert "train-split support" in summary["eval_protocol"]
  assert summary["eval_seeds"] and np.isfinite(summary["fewshot_acc_rule"])


def test_an_unregistered_estimator_is_a_one_line_error(tmp_path):
  with pytest.raises(ValueError, match="toy_nope.*choose one of") as e:
    metaunsup.train_rule(tiny_config(), tmp_path / "run", meta={"estimator": "toy_nope"})
  assert "\n" not in str(e.value) and "toy_sign" in str(e.value)
