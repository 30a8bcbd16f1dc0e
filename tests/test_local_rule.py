"""The `LocalRule` interface (metaunsup/local_rule.py): the registry, rule files that store
their kind (and the committed ones, written before kinds, that load as the learned rule), a
rule defined in this file meta-trained and resumed through `metaunsup.train_rule`, and the
learned rule's numerics, unchanged by the interface."""

import dataclasses
import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import metaunsup
from helpers import assert_close_at_scale, per_task, tiny_config
from metaunsup import checkpointing, data, estimators, inner, local_rule, preprocess
from metaunsup.rules import learned
from metaunsup.rules.zoo.oja import Oja
from metaunsup.training import config_checks, setup, workdir as workdir_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Every rule file and workdir the repository holds: all written before rules had kinds.
ALL_COMMITTED_RULE_FILES = sorted(ROOT.glob("metaunsup/pretrained/*.msgpack")) + sorted(
  ROOT.glob("experiments/*/results/**/rule.msgpack")
)
# Files written before rule kinds existed (every learned-rule run committed before issue 27);
# later ones name their kind.
COMMITTED_RULE_FILES = [
  p for p in ALL_COMMITTED_RULE_FILES if "kind" not in checkpointing.load_rule_file(p)[1]
]
COMMITTED_CONFIGS = [
  p
  for p in sorted(ROOT.glob("experiments/*/results/**/config.json"))
  if "kind" not in json.loads(p.read_text())["rule"]
]


@local_rule.register("lr_test_toy")
@dataclasses.dataclass(frozen=True)
class ToyRule(local_rule.LocalRuleBase):
  """A Hebbian step of learned size on every layer: the smallest rule with a theta."""

  max_lr: float = 0.1
  layers: tuple = ()  # a tuple field: stored as a JSON list, read back as a tuple

  def init_theta(self, key):
    del key
    return {"gain": jnp.ones((), jnp.float32)}

  def update(self, theta, params, acts):
    new_w = []
    for l, w in enumerate(params.W):
      x = acts.xs[l] - acts.xs[l].mean(0)
      h = acts.xs[l + 1] - acts.xs[l + 1].mean(0)
      dw = x.T @ h / x.shape[0]
      new_w.append(w + self.max_lr * theta["gain"] * dw / (jnp.sqrt(jnp.mean(dw**2)) + 1e-8))
    return params.replace(W=new_w)

  def summary(self, theta):
    return {"toy_gain": float(theta["gain"])}


def test_registry_finds_the_package_rules_and_refuses_bad_kinds():
  assert {"learned", "oja", "lr_test_toy"} <= set(local_rule.kinds())
  assert local_rule.rule_class("learned") is learned.LearnedRule
  assert local_rule.rule_class(None) is learned.LearnedRule  # files without a kind
  assert local_rule.rule_class("oja") is Oja
  for r in (learned.LearnedRule(), Oja(), ToyRule()):
    assert isinstance(r, local_rule.LocalRule)
    assert local_rule.from_dict(local_rule.to_stored(r)) == r
  with pytest.raises(ValueError, match="letters, digits"):
    local_rule.register("no spaces")
  with pytest.raises(ValueError, match="already registered"):
    local_rule.register("oja")(type("Other", (local_rule.LocalRuleBase,), {}))
  with pytest.raises(TypeError, match="registered local rule"):
    local_rule.check_rule(object())
  assert Oja().init_theta(jax.random.PRNGKey(0)) == {}


def test_rules_of_every_kind_round_trip_through_rule_files(tmp_path):
  learned_cfg = learned.LearnedRule(channels=3, hidden=4, readout_rank=2)
  rules = [
    metaunsup.Rule(theta=learned_cfg.init_theta(jax.random.PRNGKey(0)), config=learned_cfg),
    metaunsup.Rule(theta={}, config=Oja(lr=0.3)),
    metaunsup.Rule(
      theta={"gain": jnp.asarray(0.5)},
      config=ToyRule(layers=(1, 2)),
      meta={"note": "defined in a test file"},
    ),
  ]
  for i, r in enumerate(rules):
    r.save(tmp_path / f"{i}.msgpack")
    _, stored, _ = checkpointing.load_rule_file(tmp_path / f"{i}.msgpack")
    assert stored["kind"] == r.config.kind
    back = metaunsup.load_rule(tmp_path / f"{i}.msgpack")
    assert back.config == r.config and type(back.config) is type(r.config)
    assert back.meta == r.meta
    assert jax.tree_util.tree_structure(back.theta) == jax.tree_util.tree_structure(r.theta)
    for a, b in zip(jax.tree_util.tree_leaves(back.theta), jax.tree_util.tree_leaves(r.theta)):
      np.testing.assert_array_equal(a, b)


def test_apply_rule_trains_with_a_rule_of_any_kind():
  x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
  for r in (
    metaunsup.Rule(theta={}, config=Oja()),
    metaunsup.Rule(theta={"gain": jnp.asarray(1.0)}, config=ToyRule()),
  ):
    before = metaunsup.apply_rule(r, x, widths=(8, 4), steps=0, batch_size=16)
    after = metaunsup.apply_rule(r, x, widths=(8, 4), steps=3, batch_size=16, chunk=3)
    assert np.all(np.isfinite(after.features(x)))
    assert not np.array_equal(before.params.W[0], after.params.W[0]), r.config.kind


def test_unknown_kind_is_one_line_naming_it_and_the_registered_ones(tmp_path):
  path = tmp_path / "rule.msgpack"
  checkpointing.save_rule_file(path, {"w": np.ones(2)}, {"kind": "my_secret_rule", "lr": 1})
  with pytest.raises(ValueError, match="my_secret_rule") as e:
    metaunsup.load_rule(path)
  assert "\n" not in str(e.value) and "learned" in str(e.value) and "oja" in str(e.value)


def test_unregistered_rules_are_refused_before_anything_is_written(tmp_path):
  @dataclasses.dataclass(frozen=True)
  class Unregistered:
    def update(self, theta, params, acts):
      return params

  with pytest.raises(TypeError, match="registered"):
    metaunsup.Rule(theta={}, config=Unregistered()).save(tmp_path / "r.msgpack")
  with pytest.raises(TypeError, match="registered"):
    metaunsup.train_rule(tiny_config(), tmp_path / "run", rule=Unregistered())
  assert not any(tmp_path.iterdir())


def test_a_rule_without_theta_cannot_be_meta_trained(tmp_path):
  with pytest.raises(ValueError, match="nothing to meta-train") as e:
    metaunsup.train_rule(tiny_config(), tmp_path / "run", rule=Oja())
  assert "\n" not in str(e.value)
  assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("path", COMMITTED_RULE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_rule_files_have_no_kind_and_load_as_the_learned_rule(path):
  _, stored, _ = checkpointing.load_rule_file(path)
  assert "kind" not in stored
  loaded = metaunsup.load_rule(path)
  assert type(loaded.config) is learned.LearnedRule and loaded.config.kind == "learned"


@pytest.mark.parametrize("path", ALL_COMMITTED_RULE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_committed_rule_file_loads_as_the_kind_it_names(path):
  _, stored, _ = checkpointing.load_rule_file(path)
  loaded = metaunsup.load_rule(path)
  assert loaded.config.kind == stored.get("kind", "learned")
  loaded.config.check_theta(loaded.theta)


def test_committed_workdir_checkpoint_loads_as_the_learned_rule():
  # A run stopped before its rule file: load_rule reads its newest checkpoint, with the rule
  # config of its config.json (no kind there either).
  workdir = ROOT / "tests" / "data" / "workdir_before_kinds"
  assert "kind" not in json.loads((workdir / "config.json").read_text())["rule"]
  loaded = metaunsup.load_rule(workdir)
  assert type(loaded.config) is learned.LearnedRule and loaded.meta == {"checkpoint_step": 250}


@pytest.mark.parametrize("path", COMMITTED_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_workdirs_resume_with_a_config_that_names_the_kind(path, tmp_path):
  """A config.json from before kinds is completed with kind "learned": today's config of
  the same run (config.rule.kind = "learned", from default_config) resumes it."""
  saved = json.loads(path.read_text())
  assert "kind" not in saved["rule"]
  shutil.copy(path, tmp_path / "config.json")
  current = config_checks.complete(ml_collections.ConfigDict(saved))
  current.rule.kind = "learned"
  workdir_lib.check_workdir_config(tmp_path, current, write=False)
  # ...and a run of another kind in that folder is refused, naming the kind.
  other = setup.with_rule(current, ToyRule())
  with pytest.raises(ValueError, match="rule.kind"):
    workdir_lib.check_workdir_config(tmp_path, other, write=False)


def test_learned_rule_summary_is_what_summary_json_held():
  cfg = learned.LearnedRule(channels=3, hidden=4, readout_rank=2)
  theta = cfg.init_theta(jax.random.PRNGKey(0))
  s = cfg.summary(theta)
  assert set(s) == {"rule_mix", "rule_inner_lr"}
  assert list(s["rule_mix"]) == list(learned.rule_terms_names(cfg))
  np.testing.assert_array_equal(
    list(s["rule_mix"].values()), np.asarray(theta["mix"]).round(4).tolist()
  )
  assert s["rule_inner_lr"] == float(learned.inner_lrs(theta, cfg)[0])
  json.dumps(s)


# Values of the learned rule from the commit before the LocalRule interface (computed there:
# `apply_rule` of the shipped rule, and a truncated-BPTT meta-gradient of tiny_config's rule);
# on this project's machine the code after it gives the same bits. Compared at 1e-4 of each
# quantity's scale so that another machine's rounding passes (XLA held to SSE4.2: 4e-6).
FEATURES = [
  [0, 0.66389, 0, 0, 1.02399, 0, 0, 0, 0, 0, 0.46877, 1.14574, 1.73922, 0, 0.03878, 0.64729],
  [0, 0, 0, 0, 0.68009, 1.0213, 0, 0.39405, 0, 1.38635, 0, 0, 0.02912, 1.36148, 1.46537, 0.15109],
  [
    1.51473,
    0,
    0.04821,
    0.22341,
    0.09843,
    0.32439,
    1.1307,
    0.62055,
    0.10307,
    0.79689,
    0,
    0.45763,
    2.79879,
    0,
    0,
    0,
  ],
  [0.03456, 0, 0, 0.32148, 0.5061, 0.00776, 0.4099, 0, 1.22335, 0, 0.31301, 0, 1.61716, 0, 0, 0],
]
LOSS = 1.4425644
GRAD_MIX = [
  0.02210006,
  -0.04341701,
  -0.006413387,
  -0.1190773,
  0.01678265,
  0.008977365,
  0.3383242,
  -0.06672088,
  -0.05188107,
  0.03181291,
]
GRAD_LR_LOGIT = 0.01769645


@pytest.mark.slow
def test_learned_rule_numerics_are_those_from_before_the_interface():
  ds = data.load("digits", 8)
  model = metaunsup.apply_rule(
    metaunsup.load_rule("pretrained"),
    ds.train_x,
    widths=(32, 16),
    steps=30,
    seed=0,
    batch_size=32,
    standardize=False,
  )
  assert_close_at_scale(
    model.features(ds.test_x[:4]), np.asarray(FEATURES), rel=1e-4, err_msg="apply_rule features"
  )
  cfg = dataclasses.replace(
    setup.inner_config(tiny_config()),
    widths=(16, 8),
    batch_size=32,
    augment=preprocess.AugmentConfig(),
  )
  theta = cfg.rule.init_theta(jax.random.PRNGKey(0))
  task_data = per_task(inner.make_task_data(ds.train_x, ds.train_y, ds.num_classes), 3)
  states = inner.init_tasks(jax.random.PRNGKey(1), ds.input_dim, cfg, 3)
  mg = jax.jit(lambda th: estimators.truncated_bptt_gradient(th, cfg, states, task_data, 4))(theta)
  assert_close_at_scale(float(mg.loss), LOSS, rel=1e-4, err_msg="meta-loss")
  assert_close_at_scale(
    np.asarray(mg.grads["mix"]), np.asarray(GRAD_MIX), rel=1e-4, err_msg="meta-gradient of mix"
  )
  assert_close_at_scale(
    float(mg.grads["lr_logit"]), GRAD_LR_LOGIT, rel=1e-4, err_msg="meta-gradient of lr_logit"
  )


@pytest.mark.slow
def test_a_rule_defined_here_meta_trains_and_resumes_through_train_rule(tmp_path):
  c = tiny_config(steps=2)
  c.family.num_buckets = 1  # one program to compile
  first = metaunsup.train_rule(c, tmp_path, rule=ToyRule(max_lr=0.05))
  assert len(first.history) == 2
  assert json.loads((tmp_path / "config.json").read_text())["rule"] == {
    "kind": "lr_test_toy",
    "max_lr": 0.05,
    "layers": [],
  }
  summary = first.summary
  assert summary["theta_size"] == 1 and "toy_gain" in summary and "rule_mix" not in summary
  assert float(first.rule.theta["gain"]) != 1.0  # Adam moved it
  # The same call with more steps resumes from the checkpoint of step 2.
  resumed = metaunsup.train_rule(c, tmp_path, rule=ToyRule(max_lr=0.05), meta={"steps": 3})
  assert [r["step"] for r in resumed.history] == [0, 1, 2]
  assert resumed.history[:2] == first.history
  loaded = metaunsup.load_rule(tmp_path)
  assert loaded.config == ToyRule(max_lr=0.05) and loaded.meta["meta_steps"] == 3
  np.testing.assert_array_equal(loaded.theta["gain"], resumed.rule.theta["gain"])
  with pytest.raises(ValueError, match="rule.max_lr"):
    metaunsup.train_rule(c, tmp_path, rule=ToyRule(max_lr=0.2), meta={"steps": 3})
