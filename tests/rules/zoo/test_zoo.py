"""Every hand-designed rule of metaunsup/rules/zoo: registered by importing the package, stored and
read back like any rule config, and driven by `metaunsup.apply_rule` for 10^4 inner steps."""

import json

import jax
import numpy as np
import pytest

import metaunsup
from metaunsup import data, local_rule
from metaunsup.rules import zoo
from metaunsup.rules.zoo import bcm, competitive, krotov_hopfield, sanger, softhebb

RULES = {
  "sanger": sanger.Sanger,
  "competitive": competitive.Competitive,
  "soft_competitive": competitive.SoftCompetitive,
  "krotov_hopfield": krotov_hopfield.KrotovHopfield,
  "softhebb": softhebb.SoftHebb,
  "bcm": bcm.BCM,
}
# A non-default config of each, so a round trip that dropped a field would show.
VARIANTS = {
  "sanger": dict(lr=0.2, subspace=True),
  "competitive": dict(lr=0.3, temperature=0.01),
  "soft_competitive": dict(lr=0.3, temperature=0.1),
  "krotov_hopfield": dict(lr=0.1, p=2.0, k=2, delta=0.2),
  "softhebb": dict(lr=0.1, inverse_temperature=12.0),
  "bcm": dict(lr=0.1),
}


@pytest.fixture(scope="module")
def digits():
  return data.load("digits", 8)


def test_importing_the_package_registers_every_rule():
  assert set(RULES) <= set(local_rule.kinds())
  for kind, cls in RULES.items():
    assert local_rule.rule_class(kind) is cls
    assert cls.kind == kind
  assert zoo.__name__ == "metaunsup.rules.zoo"


@pytest.mark.parametrize("kind", sorted(RULES))
def test_config_round_trips_and_has_nothing_to_meta_learn(kind):
  cls = RULES[kind]
  for cfg in (cls(), cls(**VARIANTS[kind])):
    local_rule.check_rule(cfg)
    stored = json.loads(json.dumps(local_rule.to_stored(cfg)))  # as config.json holds it
    assert local_rule.from_dict(stored) == cfg
    assert local_rule.from_dict(cfg.to_dict(), kind) == cfg
    assert hash(local_rule.from_dict(stored)) == hash(cfg)  # jit keys on it
    assert cfg.init_theta(None) == {}
    cfg.check_theta({})
  assert cls() != cls(**VARIANTS[kind])
  with pytest.raises(ValueError, match="unknown"):
    local_rule.from_dict({"lr": 0.1, "momentum": 0.9}, kind)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_rule_file_round_trip(kind, tmp_path):
  rule = metaunsup.Rule(theta={}, config=RULES[kind](**VARIANTS[kind]), meta={"note": kind})
  rule.save(tmp_path / "rule.msgpack")
  loaded = metaunsup.load_rule(tmp_path / "rule.msgpack")
  assert loaded.config == rule.config and loaded.meta == rule.meta
  assert jax.tree_util.tree_leaves(loaded.theta) == []


@pytest.mark.parametrize("kind", sorted(RULES))
def test_apply_rule_gives_finite_features_after_ten_thousand_steps(kind, digits):
  model = metaunsup.apply_rule(
    metaunsup.Rule(theta={}, config=RULES[kind]()),
    digits.train_x,
    widths=(64, 64, 32),
    steps=10_000,
    batch_size=64,
    seed=0,
    chunk=2500,
  )
  features = model.features(digits.test_x)
  assert features.shape == (len(digits.test_x), 32)
  assert np.all(np.isfinite(features))
  assert all(np.all(np.isfinite(np.asarray(w))) for w in model.params.W)
  # The rule moved the network: a unit that no longer varies would be a collapse.
  assert np.min(np.std(features, axis=0)) > 0.05
