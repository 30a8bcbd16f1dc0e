"""Rules on conv networks against conv references, held out (issue 38 item 6): each rule
trains a fresh conv network on the unlabeled train split of MNIST or Fashion-MNIST (MNIST
never seen in meta-training; Fashion-MNIST's train split is meta-training data, its test
split is not), and the features are read out 10-shot by `make evaluate`'s protocol
(`evaluation.readout.make_readout`: support from the train split, a class-balanced query of
--query test examples; ridge, lambda 0.1), one network init, support and query per seed.
Methods, all on the same network, data, inner steps, batch and seeds:

- random: the conv network at its init (no learning);
- the hand-designed rules at the lr experiments/conv/sweep.py chose on meta-training data
  (their zoo forms: Krotov-Hopfield, SoftHebb's update, online k-means);
- compact_mlp: the compact rule meta-trained on MLPs (experiments/compact/results/run);
- conv_rule: a rule file meta-trained on conv networks (`--rule`, e.g. the run of
  `metaunsup.configs.conv`);
- patch_pca and patch_kmeans (Coates, Lee & Ng 2011): `conv.references`, fitted on the
  same unlabeled images, --patch x --patch patches (5 by default, the first conv layer's
  kernel), one layer of 2 x --pca-dim and --kmeans-k maps (16 and 32 by default),
  4-quadrant pooling (128 features by default).

Every cell is mean ± SE over seeds; "vs" columns are conv_rule's paired difference
(`evaluation.report.paired`, bold beyond 2 SE).

  python -m experiments.conv.evaluate --rule runs/conv --out experiments/conv/results/eval14 \
      --image-size 14 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
import types

import numpy as np

import metaunsup
from metaunsup import checkpointing, conv, data, local_rule
from metaunsup.conv import references
from metaunsup.configs import conv as conv_config
from metaunsup.evaluation import readout as readout_lib
from metaunsup.evaluation import report

DATASETS = ("mnist", "fashion_mnist")
COMPACT_MLP = "experiments/compact/results/run/rule.msgpack"
SHOTS = 10


def rules(rule_path: str, sweep: pathlib.Path) -> dict:
  """{method: Rule} of the rules compared (module docstring)."""
  chosen = json.loads(sweep.read_text())["chosen"]
  out = {}
  for kind, pick in chosen.items():
    if pick is not None:
      out[kind] = metaunsup.Rule(theta={}, config=local_rule.rule_class(kind)(lr=pick["lr"]))
  out["compact_mlp"] = metaunsup.load_rule(COMPACT_MLP)
  if rule_path:
    out["conv_rule"] = metaunsup.load_rule(rule_path)
  return out


def ridge(readout, u_s: np.ndarray, u_q: np.ndarray) -> float:
  """10-shot ridge accuracy; NaN for features that are not finite."""
  if not (np.all(np.isfinite(u_s)) and np.all(np.isfinite(u_q))):
    return float("nan")
  return float(readout.score(u_s, u_q)[(SHOTS, "ridge")])


def evaluate(args) -> dict:
  """{dataset: {method: {steps: {seed: accuracy}}}} (steps 0 for the references)."""
  layers = tuple(args.layers.split())
  found = rules(args.rule, pathlib.Path(args.sweep))
  labels = types.SimpleNamespace(
    shots=(SHOTS,), heads=("ridge",), query_size=args.query, reference_batch=1
  )
  out: dict = {}
  t0 = time.time()
  for name in DATASETS:
    ds = data.load(name, args.image_size)
    side = args.image_size
    train_x = ds.train_x.reshape(-1, side, side, 1)
    test_x = ds.test_x.reshape(-1, side, side, 1)
    cells: dict = out.setdefault(name, {})
    for seed in range(args.seeds):
      readout = readout_lib.make_readout(ds, labels, seed)
      support, query = train_x[readout.support.reshape(-1)], test_x[readout.query]

      def record(method, steps, features, seed=seed, readout=readout):
        acc = ridge(readout, features(support), features(query))
        cells.setdefault(method, {}).setdefault(str(steps), {})[str(seed)] = acc
        print(f"{name} seed {seed} {method} @{steps}: {acc:.3f} ({time.time() - t0:.0f} s)")

      for method, rule_ in found.items():
        for steps in args.steps:
          model = conv.apply_rule(
            rule_,
            train_x,
            layers=layers,
            steps=steps,
            batch_size=args.batch_size,
            seed=seed,
            standardize=False,
          )
          record(method, steps, model.features)
      random = conv.apply_rule(
        next(iter(found.values())), train_x, layers=layers, steps=0, seed=seed, standardize=False
      )
      record("random", 0, random.features)
      pca = references.fit_patch_pca(train_x, dim=args.pca_dim, patch_size=args.patch, seed=seed)
      record("patch_pca", 0, pca.features)
      km = references.fit_patch_kmeans(train_x, k=args.kmeans_k, patch_size=args.patch, seed=seed)
      record("patch_kmeans", 0, km.features)
  return out


def table(results: dict, steps: list[int]) -> list[str]:
  """Markdown: per data set and step count, every method, and conv_rule's paired
  difference against each."""
  lines = []
  for name, cells in results["accuracy"].items():
    for n in steps:
      lines += [
        f"### {name}, {n} inner steps",
        "",
        "| method | accuracy | conv_rule − it |",
        "| --- | --- | --- |",
      ]
      mine = cells.get("conv_rule", {}).get(str(n))
      for method, by_steps in cells.items():
        accs = by_steps.get(str(n)) or by_steps.get("0")
        if accs is None:
          continue
        mean, sem = metaunsup.evaluation.stats.mean_sem(list(accs.values()))
        versus = ""
        if mine is not None and method != "conv_rule":
          d, s = report.paired(mine, accs)
          versus = f"{d:+.3f} ± {s:.3f} {report.verdict(d, s)}"
        lines.append(f"| {method} | {mean:.3f} ± {sem:.3f} | {versus} |")
      lines.append("")
  return lines


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--rule", default="", help="a conv-meta-trained rule (file or workdir)")
  parser.add_argument("--out", required=True)
  parser.add_argument("--sweep", default="experiments/conv/results/sweep.json")
  parser.add_argument("--layers", default=conv_config.NETWORK)
  parser.add_argument("--image-size", type=int, default=14)
  parser.add_argument("--steps", type=int, nargs="+", default=[100, 1000])
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--query", type=int, default=2000)
  parser.add_argument("--kmeans-k", type=int, default=32, help="patch k-means' centroids")
  parser.add_argument("--pca-dim", type=int, default=16, help="patch PCA's directions")
  parser.add_argument("--patch", type=int, default=5, help="the references' patch side")
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  t0 = time.time()
  accuracy = evaluate(args)
  results = {
    "command": "python -m experiments.conv.evaluate "
    + " ".join(
      f"--{k.replace('_', '-')}={' '.join(map(str, v)) if isinstance(v, list) else v}"
      for k, v in vars(args).items()
    ),
    "protocol": __doc__.split("\n\n")[0],
    "layers": args.layers,
    "image_size": args.image_size,
    "steps": args.steps,
    "seeds": list(range(args.seeds)),
    "accuracy": accuracy,
    "seconds": round(time.time() - t0, 1),
  }
  checkpointing.atomic_write_json(out / "results.json", results)
  head = [
    f"# Conv rules against conv references, held out ({args.layers}, {args.image_size}x"
    f"{args.image_size}, 10-shot ridge)",
    "",
    f"Command: `{results['command']}`; {results['seconds'] / 60:.1f} min on this project's "
    "2-core CPU. Mean ± SE over seeds; the last column is conv_rule's paired difference.",
    "",
  ]
  (out / "results.md").write_text("\n".join(head + table(results, args.steps)) + "\n")
  print(f"wrote {out}/results.md")


if __name__ == "__main__":
  main()
