"""Fingerprints of the rules' numerics, to show that a refactor of the rules (issue 36) left
them bit for bit as they were: run this module under the code before and after, on one
machine, and compare the two JSON files (every entry a SHA-256 of float32 bytes).

  git worktree add /tmp/before BEFORE_COMMIT     # or: git archive BEFORE_COMMIT metaunsup
  cd /tmp   # not the checkout: `python -m` puts the working folder first on sys.path
  PYTHONPATH=/tmp/before:$REPO python -m experiments.rules_refactor.fingerprint --out=before.json
  PYTHONPATH=$REPO python -m experiments.rules_refactor.fingerprint --out=after.json
  PYTHONPATH=$REPO python -m experiments.rules_refactor.fingerprint --compare before.json after.json

(The first run imports the old package, the module itself from $REPO, the checkout; the
rule files fingerprinted are the checkout's in both.) What is fingerprinted, each through
the interface that both versions have (`local_rule.from_dict`, `init_theta`, `update`,
`load_rule`, `apply_rule`, `python -m metaunsup.train`):
  - every rule kind (the learned rule plain and with competition and every zoo term, the
    compact rule, each zoo rule, Oja's): 20 inner steps of `update` on a 49-24-16-8 relu
    network from key 0, and the gradient of a loss through 4 steps with respect to theta;
  - every committed rule file: its theta, and 30 `apply_rule` steps on fixed data;
  - with --resume, a smoke meta-training run of 4 steps resumed to 6: its final theta and
    metrics.jsonl.
Hashes of float computations agree only on the same machine and library versions: compare
two runs of one machine, never a file from another.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZOO = ("oja", "sanger", "competitive", "soft_competitive", "krotov_hopfield", "softhebb", "bcm")
RULES = {
  "learned": dict(kind="learned", channels=4, hidden=8, readout_rank=2),
  "learned_zoo": dict(
    kind="learned", channels=4, hidden=8, readout_rank=2, competition=True, zoo_terms=ZOO
  ),
  "compact": dict(kind="compact"),
  **{k: dict(kind=k) for k in ZOO},
}


def _sha(tree) -> str:
  h = hashlib.sha256()
  for leaf in jax.tree_util.tree_leaves(tree):
    h.update(np.asarray(leaf).tobytes())
  return h.hexdigest()


def rule_fingerprints() -> dict:
  from metaunsup import base_model, local_rule

  out = {}
  x = jax.random.normal(jax.random.PRNGKey(1), (25, 32, 49))
  for name, stored in RULES.items():
    rule = local_rule.from_dict(stored)
    theta = rule.init_theta(jax.random.PRNGKey(0))
    params = base_model.init(jax.random.PRNGKey(2), 49, (24, 16, 8))

    def unroll(theta, params, steps, rule=rule):
      for i in range(steps):
        params = rule.update(theta, params, base_model.apply(params, x[i], "relu"))
      return params

    trained = jax.jit(unroll, static_argnums=2)(theta, params, 20)
    entry = {"theta": _sha(theta), "params_after_20": _sha(trained)}
    if jax.tree_util.tree_leaves(theta):

      def loss(theta, params=params, unroll=unroll):
        p = unroll(theta, params, 4)
        return jnp.sum(base_model.apply(p, x[24], "relu").xs[-1] ** 2)

      entry["grad_through_4"] = _sha(jax.jit(jax.grad(loss))(theta))
    out[name] = entry
  return out


def file_fingerprints() -> dict:
  import metaunsup

  out = {}
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (256, 196)), np.float32)
  files = sorted(
    p
    for p in ROOT.glob("**/*.msgpack")
    if not {".venv", "runs", ".git"} & set(p.relative_to(ROOT).parts)
  )
  for path in files:
    rule = metaunsup.load_rule(path)
    model = metaunsup.apply_rule(rule, x, widths=(64, 64, 32), steps=30, batch_size=64, seed=0)
    out[str(path.relative_to(ROOT))] = {
      "theta": _sha(rule.theta),
      "features_after_30": _sha(model.features(x)),
    }
  return out


def resume_fingerprint() -> dict:
  with tempfile.TemporaryDirectory() as tmp:
    for steps in (4, 6):
      subprocess.run(
        [sys.executable, "-m", "metaunsup.train", "--config=smoke", f"--workdir={tmp}/run"]
        + [f"--config.meta.steps={steps}"],
        check=True,
        capture_output=True,
      )
    import metaunsup

    rule = metaunsup.load_rule(pathlib.Path(tmp) / "run")
    rows = [json.loads(line) for line in (pathlib.Path(tmp) / "run" / "metrics.jsonl").open()]
    numbers = [
      [v for k, v in sorted(r.items()) if isinstance(v, float) and "second" not in k] for r in rows
    ]
    return {"smoke_4_then_6": {"theta": _sha(rule.theta), "metrics": _sha(numbers)}}


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--out", help="write the fingerprints here (JSON)")
  p.add_argument("--resume", action="store_true", help="also a resumed smoke run (minutes)")
  p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
  a = p.parse_args(argv)
  if a.compare:
    before, after = (json.loads(pathlib.Path(f).read_text()) for f in a.compare)
    differ = [
      f"{group}/{name}/{what}"
      for group in ("rules", "files", "resume")
      for name, entries in before.get(group, {}).items()
      for what, h in entries.items()
      if after.get(group, {}).get(name, {}).get(what) != h
    ]
    n = sum(len(e) for g in ("rules", "files", "resume") for e in before.get(g, {}).values())
    print(
      f"{n - len(differ)} of {n} fingerprints equal" + (f"; differ: {differ}" if differ else "")
    )
    sys.exit(1 if differ else 0)
  import metaunsup

  result = {
    "package": str(pathlib.Path(metaunsup.__file__).parent),
    "rules": rule_fingerprints(),
    "files": file_fingerprints(),
  }
  if a.resume:
    result["resume"] = resume_fingerprint()
  text = json.dumps(result, indent=2)
  pathlib.Path(a.out).write_text(text) if a.out else print(text)


if __name__ == "__main__":
  main()
