"""Competition in the learned rule (issue 29 item 1, metaunsup/rule.py): the per-example
softmax share and rank of each unit as inputs of the unit network (`competition`), and the
zoo's increments at learned step sizes (`zoo_terms`), with every zoo rule a special case
(`RuleConfig.theta_from`); both off by default, where the rule is today's."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metaunsup
from helpers import assert_close_at_scale, tiny_rule_config
from metaunsup import base_model, local_rule
from metaunsup.rules import learned
from metaunsup.rules.zoo import oja
from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, sanger, softhebb
from metaunsup.rules.zoo import terms as term_records

ALL_ZOO = learned.ZOO_TERMS
NEW_FIELDS = ("competition", "zoo_terms", "krotov_hopfield_p", "krotov_hopfield_k")

# Every zoo rule at its defaults and at a non-default config, with the term it maps to.
ZOO_RULES = [
  (oja.Oja(), "oja"),
  (oja.Oja(lr=0.2), "oja"),
  (sanger.Sanger(), "sanger"),
  (sanger.Sanger(lr=0.2, subspace=True), "oja"),
  (competitive.Competitive(), "competitive"),
  (competitive.Competitive(lr=0.3, temperature=0.01), "soft_competitive"),
  (competitive.SoftCompetitive(), "soft_competitive"),
  (competitive.SoftCompetitive(lr=0.3, temperature=0.1), "soft_competitive"),
  (krotov_hopfield.KrotovHopfield(), "krotov_hopfield"),
  (krotov_hopfield.KrotovHopfield(lr=0.1, p=2.0, k=2, delta=0.2), "krotov_hopfield"),
  (softhebb.SoftHebb(), "softhebb"),
  (softhebb.SoftHebb(lr=0.1, inverse_temperature=12.0), "softhebb"),
  (bcm.BCM(), "bcm"),
  (bcm.BCM(lr=0.1), "bcm"),
]


def _net(widths, activation="relu", batch=32, dim=20, seed=0):
  """Random params and their forward pass on a random batch (as tests/rules/zoo/ build them)."""
  k_init, k_x = jax.random.split(jax.random.PRNGKey(seed))
  params = base_model.init(k_init, dim, widths)
  x = jax.random.normal(k_x, (batch, dim))
  return params, base_model.apply(params, x, activation)


@functools.partial(jax.jit, static_argnums=0)
def _jit_update(cfg, theta, params, acts):
  return cfg.update(theta, params, acts)


# One program per zoo rule and network shape (a rule is a frozen, hashable dataclass), where
# a `jax.jit(zoo_rule.update)` per call compiled one per call.
@functools.partial(jax.jit, static_argnums=0)
def _jit_zoo_update(zoo_rule, params, acts):
  return zoo_rule.update({}, params, acts)


def _assert_identical(a, b):
  leaves_a, tree_a = jax.tree_util.tree_flatten(a)
  leaves_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---- (a) the defaults are today's rule -----------------------------------------------------


def test_defaults_give_todays_config_theta_and_update():
  old_fields = {k: v for k, v in tiny_rule_config().to_dict().items() if k not in NEW_FIELDS}
  assert set(old_fields) | set(NEW_FIELDS) == {
    f.name for f in dataclasses.fields(learned.LearnedRule)
  }
  old = learned.LearnedRule.from_dict(old_fields)  # a config stored before the new fields
  new = tiny_rule_config(competition=False, zoo_terms=(), krotov_hopfield_p=3.0)
  assert old == new and hash(old) == hash(new)
  assert old.example_features == 2 + old.channels
  theta_old = old.init_theta(jax.random.PRNGKey(3))
  _assert_identical(theta_old, new.init_theta(jax.random.PRNGKey(3)))
  assert not {"competition_log_temperature", "learned_gate", "zoo_lr", "zoo_params"} & set(
    theta_old
  )
  params, acts = _net((9, 6))
  _assert_identical(
    _jit_update(old, theta_old, params, acts), _jit_update(new, theta_old, params, acts)
  )
  assert set(old.summary(theta_old)) == {"rule_mix", "rule_inner_lr"}


def test_shipped_rule_still_loads_with_the_default_new_fields():
  shipped = metaunsup.load_rule("pretrained")
  assert type(shipped.config) is learned.LearnedRule
  assert not shipped.config.competition and shipped.config.zoo_terms == ()
  shipped.config.check_theta(shipped.theta)
  params, acts = _net((9, 6))
  new = _jit_update(shipped.config, shipped.theta, params, acts)
  assert all(np.all(np.isfinite(w)) for w in new.W)


# ---- (b) every zoo rule is a special case ---------------------------------------------------


@pytest.mark.parametrize("widths", [(9,), (9, 6), (12, 8, 5)], ids=lambda w: f"depth{len(w)}")
@pytest.mark.parametrize(
  "zoo_rule, term", ZOO_RULES, ids=[f"{r.kind}-{i}" for i, (r, _) in enumerate(ZOO_RULES)]
)
def test_theta_from_a_zoo_rule_takes_exactly_its_step(zoo_rule, term, widths):
  p, k = (zoo_rule.p, zoo_rule.k) if term == "krotov_hopfield" else (3.0, 7)
  cfg = tiny_rule_config(
    competition=True, zoo_terms=ALL_ZOO, krotov_hopfield_p=p, krotov_hopfield_k=k
  )
  theta = cfg.theta_from(zoo_rule, jax.random.PRNGKey(1))
  cfg.check_theta(theta)
  assert float(theta["learned_gate"]) == 0.0
  assert np.count_nonzero(theta["zoo_lr"]) == 1
  # In units of the term's zoo-sweep step size.
  unit = term_records.SWEEP_LR[term]
  assert float(theta["zoo_lr"][cfg.active_zoo_terms.index(term)]) == np.float32(zoo_rule.lr / unit)
  for activation in ("relu", "tanh"):
    params, acts = _net(widths, activation)
    got = _jit_update(cfg, theta, params, acts)
    want = _jit_zoo_update(zoo_rule, params, acts)
    # Not bit-identical: the learned temperatures come back as exp(log(t)) in float32 (an
    # ulp or two off t), and XLA compiles the zoo rule's operations inside a larger program
    # that it fuses and reassociates differently; both are float32 rounding, relative to
    # the weights' scale, far below 1e-5.
    assert_close_at_scale(got.W, want.W, rel=1e-5, err_msg=f"{term} {activation}")
    # The gate is 0: b and V are the zoo rule's, i.e. untouched.
    _assert_identical((got.b, got.V), (want.b, want.V))


def test_zoo_terms_at_zero_step_with_the_gate_open_are_the_learned_rule():
  plain = tiny_rule_config()
  cfg = tiny_rule_config(zoo_terms=ALL_ZOO)
  theta = cfg.init_theta(jax.random.PRNGKey(2))
  params, acts = _net((9, 6))
  got = _jit_update(cfg, theta, params, acts)
  want = _jit_update(plain, plain.init_theta(jax.random.PRNGKey(2)), params, acts)
  # W + 1 * (W' - W) + 0 rounds W' once more (an ulp of W's scale).
  assert_close_at_scale(got, want, rel=1e-6)


# ---- (c) the competition features and the gradients --------------------------------------


def _midrank_reference(z):
  """#smaller + (#equal - 1) / 2 per row, by counting in numpy."""
  return np.stack([[np.sum(r < v) + 0.5 * (np.sum(r == v) - 1) for v in r] for r in z])


def test_competition_features_are_a_share_and_a_rank():
  z = jax.random.normal(jax.random.PRNGKey(0), (16, 11)) * 3.0 + 1.0
  theta = {"competition_log_temperature": jnp.zeros(())}
  share, rank = learned.competition_features(theta, z)
  np.testing.assert_allclose(np.mean(share, axis=1), 1.0, rtol=1e-5)  # n times a softmax
  np.testing.assert_array_equal(np.sort(rank, axis=1) * 10, np.tile(np.arange(11.0), (16, 1)))
  # The rank orders the units as z does (the batch norm is monotone per unit only, so
  # compare with the normalised z), and the share grows with it.
  zn = (z - z.mean(0)) / z.std(0)
  np.testing.assert_array_equal(np.argsort(rank, axis=1), np.argsort(zn, axis=1))
  np.testing.assert_array_equal(np.argsort(share, axis=1), np.argsort(zn, axis=1))
  # Ties share their mean rank, in both ways of counting (pairs, and sorting for large
  # layers), so that tied units stay interchangeable.
  tied = z.at[:, 3:6].set(0.0)
  expected = np.asarray(_midrank_reference(np.asarray(tied)))
  many = jnp.tile(tied, (4000, 1))  # 64000 x 11^2 pairs: the sorting branch
  assert many.shape[0] * 11**2 > learned.competition.PAIRWISE_RANK_MAX >= tied.shape[0] * 11**2
  for rows in (tied, many):
    np.testing.assert_array_equal(learned.competition.midrank(rows)[:16], expected)
  # A one-unit layer: rank 0, share 1.
  share1, rank1 = learned.competition_features(theta, z[:, :1])
  np.testing.assert_array_equal(rank1, 0.0)
  np.testing.assert_allclose(share1, 1.0)


def test_competition_and_zoo_updates_are_finite_with_finite_nonzero_meta_gradients():
  cfg = tiny_rule_config(competition=True, zoo_terms=ALL_ZOO)
  assert cfg.example_features == 2 + cfg.channels + 2
  theta = cfg.init_theta(jax.random.PRNGKey(0))
  assert theta["unit_example"].shape == (cfg.example_features, cfg.hidden)
  # Every zoo term on, so that its parameters have a gradient too.
  theta["zoo_lr"] = jnp.full_like(theta["zoo_lr"], 0.05)
  params, acts = _net((9, 8), "relu")
  probes = [jax.random.normal(jax.random.PRNGKey(10 + l), w.shape) for l, w in enumerate(params.W)]

  def loss(theta):
    new = cfg.update(theta, params, acts)
    return sum(jnp.sum(p * w) for p, w in zip(probes, new.W)) + sum(jnp.sum(b) for b in new.b)

  new = jax.jit(cfg.update)(theta, params, acts)
  assert all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(new))
  grads = jax.jit(jax.grad(loss))(theta)
  for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
    name = jax.tree_util.keystr(path)
    if "krotov_hopfield_delta" not in name:  # see the next test
      assert np.all(np.isfinite(g)), name
  assert float(grads["competition_log_temperature"]) != 0.0
  assert np.all(np.asarray(grads["zoo_lr"]) != 0.0), grads["zoo_lr"]
  assert float(grads["learned_gate"]) != 0.0
  for name, g in grads["zoo_params"].items():
    assert float(g) != 0.0, name


def test_krotov_hopfield_delta_meta_gradient_is_finite():
  cfg = tiny_rule_config(zoo_terms=("krotov_hopfield",))
  theta = cfg.theta_from(krotov_hopfield.KrotovHopfield(), jax.random.PRNGKey(0))
  params, acts = _net((9, 8), "relu")
  probe = jax.random.normal(jax.random.PRNGKey(10), params.W[0].shape)
  grads = jax.jit(jax.grad(lambda t: jnp.sum(probe * cfg.update(t, params, acts).W[0])))(theta)
  assert np.isfinite(grads["zoo_params"]["krotov_hopfield_delta"])


def test_competition_and_zoo_terms_keep_the_rule_permutation_equivariant():
  # Standing within a layer is a function of the layer's other units, but not of their
  # order: reordering a hidden layer's units reorders the update (ties would too: `_midrank`).
  # Every zoo term but Sanger's, which orders the units by design (unit j is decorrelated
  # from units 1..j).
  zoo_terms = tuple(t for t in ALL_ZOO if t != "sanger")
  cfg = tiny_rule_config(
    unit_id_features=False, cross_unit_mixing=False, competition=True, zoo_terms=zoo_terms
  )
  theta = cfg.init_theta(jax.random.PRNGKey(0))
  theta["zoo_lr"] = jnp.full_like(theta["zoo_lr"], 0.05)
  params, acts = _net((9, 7, 4), batch=12, dim=10)
  x = jax.random.normal(jax.random.PRNGKey(2), (12, 10))
  perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(3), 7))

  def permute(params):
    W, b, V = list(params.W), list(params.b), list(params.V)
    W[1], V[1], b[1] = W[1][:, perm], V[1][:, perm], b[1][perm]
    W[2], V[2] = W[2][perm, :], V[2][perm, :]
    return params.replace(W=W, b=b, V=V)

  def update(params):
    return _jit_update(cfg, theta, params, base_model.apply(params, x, "relu"))

  # Permuted units sum the layer's statistics in another order: float32 rounding carried
  # through the rule (tests/rules/test_learned_rule.py's REL_RULE); a rule that saw the order
  # differs by O(1).
  assert_close_at_scale(update(permute(params)), permute(update(params)), rel=1e-4)


# ---- (d) bad configs ------------------------------------------------------------------------


@pytest.mark.parametrize(
  "fields, match",
  [
    ({"zoo_terms": ("oja", "magic")}, "rule.zoo_terms"),
    ({"zoo_terms": ("oja", "oja")}, "rule.zoo_terms"),
    ({"krotov_hopfield_p": 1.5}, "rule.krotov_hopfield_p"),
    ({"krotov_hopfield_k": 1}, "rule.krotov_hopfield_k"),
    ({"krotov_hopfield_k": 7.0}, "rule.krotov_hopfield_k"),
    ({"competition": "yes"}, "rule.competition"),
  ],
)
def test_bad_configs_are_one_line_errors(fields, match):
  with pytest.raises(ValueError, match=match) as e:
    learned.LearnedRule(**fields)
  assert "\n" not in str(e.value)


def test_theta_from_refuses_what_the_config_cannot_express():
  key = jax.random.PRNGKey(0)
  bad = [
    (tiny_rule_config(), oja.Oja(), "not in this config's zoo_terms"),
    (tiny_rule_config(zoo_terms=("sanger",)), sanger.Sanger(subspace=True), "'oja'"),
    (tiny_rule_config(zoo_terms=("competitive",)), competitive.SoftCompetitive(), "soft_"),
    (
      tiny_rule_config(zoo_terms=("krotov_hopfield",)),
      krotov_hopfield.KrotovHopfield(k=3),
      "krotov_hopfield_k",
    ),
    (
      tiny_rule_config(zoo_terms=("krotov_hopfield",), krotov_hopfield_p=2.0),
      krotov_hopfield.KrotovHopfield(),
      "krotov_hopfield_p",
    ),
    (tiny_rule_config(zoo_terms=ALL_ZOO), tiny_rule_config(), "'learned'"),
  ]
  for cfg, zoo_rule, match in bad:
    with pytest.raises(ValueError, match=match) as e:
      cfg.theta_from(zoo_rule, key)
    assert "\n" not in str(e.value)


def test_check_theta_names_a_missing_zoo_parameter():
  cfg = tiny_rule_config(zoo_terms=("krotov_hopfield", "bcm"))
  theta = cfg.init_theta(jax.random.PRNGKey(0))
  cfg.check_theta(theta)
  assert set(theta["zoo_params"]) == {"krotov_hopfield_delta"}  # only the terms' own
  with pytest.raises(ValueError, match=r"theta\['zoo_params'\]\['krotov_hopfield_delta'\]"):
    cfg.check_theta({**theta, "zoo_params": {}})
  with pytest.raises(ValueError, match=r"theta\['zoo_lr'\]"):
    tiny_rule_config(zoo_terms=ALL_ZOO).check_theta(theta)
  # A term without parameters: no "zoo_params" at all.
  assert "zoo_params" not in tiny_rule_config(zoo_terms=("oja",)).init_theta(jax.random.PRNGKey(0))


def test_summary_reports_the_gate_the_zoo_steps_and_parameters():
  cfg = tiny_rule_config(competition=True, zoo_terms=("bcm", "softhebb", "soft_competitive"))
  theta = cfg.theta_from(softhebb.SoftHebb(lr=0.1, inverse_temperature=12.0), jax.random.PRNGKey(0))
  s = cfg.summary(theta)
  json.dumps(s)
  assert s["rule_learned_gate"] == 0.0
  assert s["rule_competition_temperature"] == 1.0
  # In ZOO_TERMS order, whatever the config's order.
  assert s["rule_zoo_lr"] == {"soft_competitive": 0.0, "softhebb": 0.1, "bcm": 0.0}
  assert s["rule_zoo_params"] == {
    "soft_competitive_temperature": 0.03,
    "softhebb_inverse_temperature": 12.0,
  }


# ---- (e) rule files --------------------------------------------------------------------------


def test_rule_file_round_trip_with_the_new_fields(tmp_path):
  cfg = tiny_rule_config(
    competition=True,
    zoo_terms=("krotov_hopfield", "oja", "softhebb"),
    krotov_hopfield_p=2.0,
    krotov_hopfield_k=2,
  )
  stored = json.loads(json.dumps(local_rule.to_stored(cfg)))  # as config.json holds it
  assert stored["zoo_terms"] == ["krotov_hopfield", "oja", "softhebb"]
  assert local_rule.from_dict(stored) == cfg
  theta = cfg.theta_from(
    krotov_hopfield.KrotovHopfield(lr=0.1, p=2.0, k=2, delta=0.2), jax.random.PRNGKey(0)
  )
  metaunsup.Rule(theta=theta, config=cfg, meta={"note": "zoo"}).save(tmp_path / "rule.msgpack")
  back = metaunsup.load_rule(tmp_path / "rule.msgpack")
  assert back.config == cfg and hash(back.config) == hash(cfg) and back.meta == {"note": "zoo"}
  _assert_identical(back.theta, theta)
