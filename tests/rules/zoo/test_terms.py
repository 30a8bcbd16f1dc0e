"""The zoo's term records (metaunsup/rules/zoo/record.py, collected in terms.py): one record
per term, which the zoo rules, the learned rule's zoo_terms and the compact rule all read;
the swept step sizes are the committed sweep's; and a new term is one record, which both
learned designs can mix at once while the rules stored before it still load (issue 36)."""

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaunsup import base_model, local_rule
from metaunsup.rules.compact import CompactRule
from metaunsup.rules.learned import LearnedRule
from metaunsup.rules.zoo import record, terms

SWEEP = pathlib.Path(__file__).parents[3] / "experiments" / "zoo" / "results" / "sweep.json"


def test_swept_step_sizes_are_the_committed_sweeps():
  chosen = json.loads(SWEEP.read_text())["chosen"]
  assert set(chosen) == set(terms.TERMS)
  # The same float64 values, read from two JSON files: equal exactly.
  assert terms.SWEEP_LR == {name: chosen[name]["lr"] for name in terms.TERMS}


def test_records_are_the_zoo_rules_defaults_and_keys_are_unique():
  keys = [h.key for h in terms.hyperparameters()]
  assert len(keys) == len(set(keys)) == 3
  for name, term in terms.RECORDS.items():
    assert term.name == name
    for h in term.hyperparameters:
      owners = [c for c in local_rule.RULES.values() if h.field in c.__dataclass_fields__]
      defaults = {c.kind: getattr(c, h.field) for c in owners if term.is_rule(c())}
      assert defaults and set(defaults.values()) == {h.default}, (name, h, defaults)
  with pytest.raises(ValueError, match="unknown zoo term 'hebb'"):
    terms.increment("hebb", jnp.ones((2, 2)), jnp.ones((4, 2)), 0.1, {})


def _network(widths=(8, 4)):
  params = base_model.init(jax.random.PRNGKey(0), 12, widths)
  x = jax.random.normal(jax.random.PRNGKey(1), (16, 12))
  return params, base_model.apply(params, x, "relu")


SIGN_HEBB = record.Term(
  "sign_hebb",
  lambda w, x, lr, hp, *, p, k: lr * hp["sign_hebb_gain"] * jnp.sign(x.T @ (x @ w)) / x.shape[0],
  is_rule=record.of_kind("sign_hebb"),
  hyperparameters=(record.Hyperparameter("sign_hebb_gain", "gain", 1.0),),
)


def test_a_new_term_is_one_record_and_stored_rules_still_load(monkeypatch):
  stored_compact = CompactRule()  # every term before the new one, as a rule file holds
  stored_theta = stored_compact.init_theta(jax.random.PRNGKey(0))
  stored_learned = LearnedRule(channels=2, hidden=4, readout_rank=1, zoo_terms=("oja", "bcm"))
  stored_learned_theta = stored_learned.init_theta(jax.random.PRNGKey(0))
  monkeypatch.setattr(terms, "RECORDS", {**terms.RECORDS, "sign_hebb": SIGN_HEBB})
  monkeypatch.setattr(terms, "TERMS", (*terms.TERMS, "sign_hebb"))
  monkeypatch.setitem(terms.SWEEP_LR, "sign_hebb", 0.01)
  stored_compact.check_theta(stored_theta)
  stored_learned.check_theta(stored_learned_theta)
  params, acts = _network()

  compact = CompactRule(terms=("oja", "sign_hebb"))
  theta = compact.init_theta(jax.random.PRNGKey(0))
  assert set(theta["params"]) == {"sign_hebb_gain"}
  assert compact.summary(theta)["compact_params"] == {"sign_hebb_gain": 1.0}
  only_oja = dict(theta, mix=theta["mix"].at[1].set(0.0))
  with_term, without = compact.update(theta, params, acts), compact.update(only_oja, params, acts)
  assert all(np.isfinite(w).all() for w in with_term.W)
  assert not np.allclose(with_term.W[0], without.W[0])

  learned = dataclasses.replace(stored_learned, zoo_terms=("oja", "sign_hebb"))
  theta = learned.init_theta(jax.random.PRNGKey(0))
  assert learned.active_zoo_terms == ("oja", "sign_hebb")
  assert {k: float(v) for k, v in theta["zoo_params"].items()} == {"sign_hebb_gain": 1.0}
  theta["zoo_lr"] = jnp.asarray([0.0, 1.0])
  theta["learned_gate"] = jnp.zeros(())
  # With the learned increment gated off and only the new term on, the step is the term's.
  got = learned.update(theta, params, acts)
  for w_got, w, x in zip(got.W, params.W, acts.xs):
    want = w + SIGN_HEBB.increment(w, x, 0.01, {"sign_hebb_gain": 1.0}, p=3.0, k=7)
    np.testing.assert_allclose(w_got, want, rtol=1e-6, atol=1e-7 * float(jnp.abs(w).max()))


def test_a_compact_rule_file_from_before_keeps_every_terms_hyperparameters():
  """Rule files written before theta["params"] held only the rule's own terms carry all
  three hyperparameters: they load, and the extra ones are ignored."""
  rule = CompactRule(terms=("oja", "krotov_hopfield"))
  theta = rule.init_theta(jax.random.PRNGKey(0))
  assert set(theta["params"]) == {"krotov_hopfield_delta"}
  old = dict(theta, params=terms.init_params())
  rule.check_theta(old)
  params, acts = _network()
  for a, b in zip(rule.update(old, params, acts).W, rule.update(theta, params, acts).W):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="extra"):
    rule.check_theta(dict(theta, params={**theta["params"], "not_a_term_param": jnp.ones(())}))
