"""The compact rule (metaunsup/rules/compact.py): a learned mix of the zoo's updates that is
each zoo rule at the right theta, warm-started from one by `meta.init_rule="zoo:NAME"`,
penalised by its L1, stored like any rule, and meta-trained by the whole machinery."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup import base_model, local_rule, train
from metaunsup.rules.zoo.oja import Oja
from metaunsup.rules.compact import CompactRule
from metaunsup.training import meta_step, setup
from metaunsup.training.state import parse_zoo_rule, warm_start_theta
from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, sanger, softhebb, terms
from helpers import assert_close_at_scale, tiny_config

ZOO_RULES = [
  Oja(lr=0.3),
  sanger.Sanger(lr=0.01),
  sanger.Sanger(lr=0.2, subspace=True),
  competitive.Competitive(lr=0.01),
  competitive.SoftCompetitive(lr=0.002, temperature=0.05),
  krotov_hopfield.KrotovHopfield(lr=0.0067),
  krotov_hopfield.KrotovHopfield(lr=0.02, delta=0.2),
  softhebb.SoftHebb(lr=0.2, inverse_temperature=40.0),
  bcm.BCM(lr=0.03),
]


def _network(widths, key=0):
  params = base_model.init(jax.random.PRNGKey(key), 49, widths)
  x = jax.random.normal(jax.random.PRNGKey(key + 1), (32, 49))
  return params, base_model.apply(params, x, "relu")


@pytest.mark.parametrize("zoo_rule", ZOO_RULES, ids=lambda r: f"{r.kind}-{r.lr}")
@pytest.mark.parametrize("widths", [(16,), (24, 16, 8)])
def test_each_zoo_rule_is_a_theta_of_the_compact_rule(zoo_rule, widths):
  rule = CompactRule()
  params, acts = _network(widths)
  theta = rule.theta_from(zoo_rule, jax.random.PRNGKey(0))
  rule.check_theta(theta)
  got = jax.jit(rule.update)(theta, params, acts)
  want = zoo_rule.update({}, params, acts)
  for w_got, w_want, w in zip(got.W, want.W, params.W):
    # Equal up to float32 rounding: the compact rule's step size is
    # exp(log(lr / scale)) * 1 * scale, a few ulps away from lr, and it adds the other
    # terms' exact zeros; at the scale of the weights that is ~1e-7.
    assert_close_at_scale(w_got, w_want, rel=1e-5)
    assert not np.allclose(w_got, w)  # the step did something
  for a, b in zip(got.b + got.V, params.b + params.V):
    np.testing.assert_array_equal(a, b)


def test_a_mix_is_the_sum_of_its_terms():
  rule = CompactRule(terms=("oja", "krotov_hopfield"))
  params, acts = _network((16, 8))
  theta = rule.init_theta(jax.random.PRNGKey(3))
  theta["mix"] = jnp.asarray([[0.5, 0.25], [2.0, 1.0]])
  got = rule.update(theta, params, acts).W
  lr = float(jnp.exp(theta["log_lr"]))
  for l, (w, x) in enumerate(zip(params.W, acts.xs)):
    g = min(l, 1)
    want = w
    for i, t in enumerate(rule.terms):
      lr_t = lr * float(theta["mix"][i, g]) * rule.term_scales[i]
      want = want + terms.increment(t, w, x, lr_t, theta["params"])
    # Two programs (jit fusion vs eager) summing the same terms: compared at the weights'
    # scale.
    assert_close_at_scale(got[l], want, rel=1e-5)


def test_config_round_trips_and_holds_its_scales():
  rule = CompactRule(terms=("krotov_hopfield", "softhebb"), l1=0.01)
  assert rule.term_scales == (terms.SWEEP_LR["krotov_hopfield"], terms.SWEEP_LR["softhebb"])
  stored = json.loads(json.dumps(local_rule.to_stored(rule)))
  assert stored["kind"] == "compact"
  assert local_rule.from_dict(stored) == rule
  assert hash(local_rule.from_dict(stored)) == hash(rule)
  theta = rule.init_theta(jax.random.PRNGKey(0))
  assert theta["mix"].shape == (2, 2)
  summary = rule.summary(theta)
  assert set(summary["compact_mix"]) == {"krotov_hopfield", "softhebb"}
  assert summary["compact_params"]["krotov_hopfield_delta"] == pytest.approx(0.4)


@pytest.mark.parametrize(
  "fields,match",
  [
    (dict(terms=("hebb",)), "terms"),
    (dict(terms=()), "terms"),
    (dict(terms=("oja", "oja")), "terms"),
    (dict(terms=("oja",), term_scales=(0.1, 0.2)), "term_scales"),
    (dict(term_scales=(-1.0,) * 7), "term_scales"),
    (dict(krotov_hopfield_k=1), "krotov_hopfield"),
    (dict(krotov_hopfield_p=1.5), "krotov_hopfield"),
    (dict(l1=-0.1), "l1"),
    (dict(init_lr=0.0), "init_lr"),
  ],
)
def test_bad_configs_give_one_line(fields, match):
  with pytest.raises(ValueError, match=match) as e:
    CompactRule(**fields)
  assert "\n" not in str(e.value)


def test_theta_from_refuses_what_the_rule_cannot_be():
  with pytest.raises(ValueError, match="lack 'oja'"):
    CompactRule(terms=("krotov_hopfield",)).theta_from(Oja(), None)
  with pytest.raises(ValueError, match="p=2.0"):
    CompactRule().theta_from(krotov_hopfield.KrotovHopfield(p=2.0), None)


def test_zoo_specs_parse_with_fields_and_fail_in_one_line():
  assert parse_zoo_rule("zoo:krotov_hopfield:lr=0.01,k=3") == krotov_hopfield.KrotovHopfield(
    lr=0.01, k=3
  )
  assert parse_zoo_rule("zoo:sanger:subspace=true") == sanger.Sanger(subspace=True)
  assert parse_zoo_rule("zoo:bcm") == bcm.BCM()
  for spec, match in [
    ("zoo:krotov_hopfield:lr", "FIELD=VALUE"),
    ("zoo:krotov_hopfield:lr=fast", "not a number"),
    ("zoo:hopfield", "unknown rule kind"),
    ("zoo:bcm:momentum=0.9", "unknown"),
    ("zoo:bcm:lr=2", "lr"),
  ]:
    with pytest.raises(ValueError, match=match) as e:
      parse_zoo_rule(spec)
    assert "\n" not in str(e.value)


def test_warm_start_from_the_zoo_and_refusal_for_a_rule_without_it():
  theta = warm_start_theta("zoo:krotov_hopfield:lr=0.0067", CompactRule())
  assert float(jnp.exp(theta["log_lr"])) * terms.SWEEP_LR["krotov_hopfield"] == pytest.approx(
    0.0067, rel=1e-6
  )
  assert np.asarray(theta["mix"]).sum() == 2.0  # one-hot, both layer groups
  with pytest.raises(ValueError, match="cannot start from a zoo rule") as e:
    warm_start_theta("zoo:bcm", Oja())
  assert "\n" not in str(e.value)
  # The learned rule contains only the zoo terms its config names (none by default).
  with pytest.raises(ValueError, match="zoo_terms") as e:
    setup.setup(tiny_config(init_rule="zoo:oja"))
  assert "\n" not in str(e.value)


def _compact_config(**meta):
  c = tiny_config(estimator="es", es_pairs=1, **meta)
  c.rule = dict(kind="compact", terms=("oja", "krotov_hopfield"))
  return c


def test_penalty_gradient_is_added_to_the_meta_gradient():
  # With the meta-optimiser's step zeroed out by a zero learning rate, nothing moves; the
  # estimate itself is compared with and without l1 through the grad norm of a step whose
  # ES perturbation is the same (same key): the difference is exactly l1 * sign(mix).
  norms = []
  for l1 in (0.0, 10.0):
    c = _compact_config(learning_rate=0.0)
    c.rule["l1"] = l1
    family, static, state = setup.setup(c)
    data, _ = family.step_data(0, state.datasets)
    _, _, metrics = meta_step.meta_step(state, data, static=static, k=2)
    norms.append(float(metrics["grad_norm"]))
  # The L1 gradient has norm 10 * sqrt(4) = 20 on a 2x2 mix of nonzero entries; the ES
  # estimate on a tiny network is far smaller, so the norm with it is dominated by 20.
  assert norms[1] > norms[0] + 10.0


def test_meta_training_warm_started_at_krotov_hopfield_runs_and_resumes(tmp_path):
  c = _compact_config(init_rule="zoo:krotov_hopfield:lr=0.0067")
  c.rule["terms"] = ("oja", "krotov_hopfield")
  rule, history, workdir = train.train_and_evaluate(c, tmp_path / "run")
  assert rule.config == CompactRule(terms=("oja", "krotov_hopfield"))
  assert len(history) == 4 and all(np.isfinite(h["meta_loss"]) for h in history)
  summary = json.loads((workdir / "summary.json").read_text())
  assert set(summary["compact_mix"]) == {"oja", "krotov_hopfield"}
  c.meta.steps = 6  # a workdir resumes, and meta.steps may grow
  _, history, _ = train.train_and_evaluate(c, tmp_path / "run")
  assert [h["step"] for h in history][-2:] == [4, 5]


@pytest.mark.parametrize("name", ["compact", "learned_zoo"])
def test_the_packaged_warm_started_configs_start_at_krotov_hopfield(name):
  import importlib

  from metaunsup.training import config_checks

  c = config_checks.complete(importlib.import_module(f"metaunsup.configs.{name}").get_config())
  config_checks.validate(c)
  rule = setup.rule_of(c)
  theta = warm_start_theta(c.meta.init_rule, rule, jax.random.PRNGKey(0))
  params, acts = _network((16, 8))
  kh = krotov_hopfield.KrotovHopfield(lr=terms.SWEEP_LR["krotov_hopfield"])
  # Jitted, as in the containment test: op by op, learned_zoo's update compiled some 300
  # small programs (10 s on 2 cores).
  for got, want in zip(jax.jit(rule.update)(theta, params, acts).W, kh.update({}, params, acts).W):
    # As in the containment test: rounding of the step size, at the weights' scale.
    assert_close_at_scale(got, want, rel=1e-5)
