#!/usr/bin/env bash
# The accelerator check of issue 18, for a machine with an NVIDIA GPU (`make bench-device`):
#   1. installs the CUDA build of the jax version already in .venv (jax[cuda13], else
#      jax[cuda12]: the plugin must match jaxlib exactly) and checks that jax sees a GPU;
#   2. runs `make bench`'s benchmarks (bench/results.{json,md} format);
#   3. the multi-task throughput sweep, T = 1 ... 1024 tasks (vmap + scan against a per-task
#      loop of jitted steps, the loop up to T = 64), with a figure;
#   4. a short meta-training of the fmnist_relu experiment (step times in metrics.jsonl).
# Everything goes to OUT/<device>/ (default bench/device/<device>), the device named in
# every file. Needs `make venv data` done first (the data is prepared offline).
#
#   bench/device.sh [--out DIR] [--wheels DIR] [--tasks 1,2,...]
#                                   [--bench-only LIST|none] [--meta-steps N] [--dry-run]
#
# --wheels DIR   install the CUDA packages from DIR only (pip --no-index), for a machine
#                without a package index: `pip download "jax[cuda13]==<version>" -d DIR`
#                on a connected machine of the same platform.
# --dry-run      no install, no GPU needed: runs the same steps on whatever backend jax has
#                (tests/test_benchmarks.py runs it on the CPU with tiny sizes).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=bench/device
WHEELS=""
TASKS=1,2,4,8,16,32,64,128,256,512,1024
BENCH_ONLY=""          # empty: every benchmark of `make bench`
META_STEPS=100
LOOP_MAX=64
REPEATS=3
DRY_RUN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --wheels) WHEELS="$2"; shift 2 ;;
    --tasks) TASKS="$2"; shift 2 ;;
    --bench-only) BENCH_ONLY="$2"; shift 2 ;;
    --meta-steps) META_STEPS="$2"; shift 2 ;;
    --loop-max) LOOP_MAX="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "device.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

PY=.venv/bin/python
if [[ ! -x $PY ]]; then
  echo "device.sh: no virtualenv at .venv; run 'make venv data' first" >&2; exit 1
fi
export PYTHONPATH="$PWD"
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$PWD/.cache/jax}"

if [[ $DRY_RUN == 0 ]]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "device.sh: no NVIDIA GPU found (nvidia-smi); use --dry-run to check the script" >&2
    exit 1
  fi
  nvidia-smi -L
  JAX_VERSION=$($PY -c 'import jax; print(jax.__version__)')
  PIP=($PY -m pip install --quiet)
  [[ -n $WHEELS ]] && PIP+=(--no-index --find-links "$WHEELS")
  # CUDA 13 wheels need a driver >= 580; older drivers take the CUDA 12 build.
  installed=""
  for cuda in cuda13 cuda12; do
    if "${PIP[@]}" "jax[$cuda]==$JAX_VERSION"; then installed=$cuda; break; fi
  done
  if [[ -z $installed ]]; then
    echo "device.sh: could not install jax[cuda13] or jax[cuda12] ==$JAX_VERSION" >&2; exit 1
  fi
  backend=$($PY -c 'import jax; print(jax.default_backend())')
  if [[ $backend != gpu ]]; then
    echo "device.sh: installed jax[$installed] but jax's backend is $backend, not gpu" >&2
    exit 1
  fi
fi

DEVICE=$($PY -c 'import jax; d = jax.devices()[0]; print(f"{d.platform} {d.device_kind}")')
SLUG=$(echo "$DEVICE" | tr -c 'A-Za-z0-9.\n-' '_')
DIR="$OUT/$SLUG"
mkdir -p "$DIR"
echo "device: $DEVICE -> $DIR"
{ echo "device: $DEVICE"; date -u; [[ $DRY_RUN == 1 ]] && echo "dry run"; \
  command -v nvidia-smi >/dev/null && nvidia-smi || true; } > "$DIR/device.txt"

if [[ $BENCH_ONLY != none ]]; then
  $PY -m bench.run --out "$DIR/bench" ${BENCH_ONLY:+--only "$BENCH_ONLY"}
fi
$PY -m bench.multitask --tasks "$TASKS" --loop-max "$LOOP_MAX" \
  --repeats "$REPEATS" --out "$DIR"
# The short meta-training; eval trimmed to one seed and the ridge head (the step times are
# what this measures; `make meta-train` is the full run).
$PY -m metaunsup.train --config=experiments/shared/configs/fmnist_relu.py \
  --workdir="$DIR/meta_train" --config.meta.steps="$META_STEPS" \
  --config.meta.checkpoint_every="$META_STEPS" --config.eval.num_seeds=1 \
  --config.eval.heads='("ridge",)' --config.eval.inner_steps=$((META_STEPS < 50 ? 2 : 300)) \
  --config.eval.datasets='("fashion_mnist",)'
$PY - "$DIR" "$DEVICE" <<'EOF'
import json, pathlib, statistics, sys
out, device = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = [json.loads(l) for l in (out / "meta_train" / "metrics.jsonl").read_text().splitlines()
        if l.strip()]
steps = [r["step_seconds"] for r in rows[1:] or rows]   # the first step compiles
summary = {"device": device, "meta_steps": len(rows),
           "median_step_seconds": statistics.median(steps),
           "first_step_seconds": rows[0]["step_seconds"]}
(out / "meta_train.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
EOF
echo "device.sh: results in $DIR"
