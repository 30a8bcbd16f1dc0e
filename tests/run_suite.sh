#!/usr/bin/env bash
# `make test`: every test file in a fresh process, TEST_JOBS files at a time.
#
# One process per file: a single process that compiled every test's XLA programs crashed
# inside XLA (a segfault while serialising an executable, once some 120 tests had loaded
# theirs; each file passes alone), and a fresh process also keeps the files independent.
# Two at a time: most of a file's time is single-threaded XLA compilation, so two files share
# 2 cores well. Each slot has its own compilation cache folder (JAX writes cache entries
# without a lock unless eviction is configured), shared by the files that run in that slot.
# Files with slow tests start first so the two slots finish close together.
# Usage: tests/run_suite.sh PYTHON JOBS CACHE_DIR [FILE...]; prints each file's output when
# it ends, then the failed files; exit status 1 if any failed.
set -uo pipefail
py=$1 jobs=$2 cache=$3
shift 3
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
if [ $# -eq 0 ]; then
  all=$(find tests -name 'test_*.py' | sort)
  set -- $(grep -l 'mark.slow' $all) $(grep -L 'mark.slow' $all)
fi
export py cache logs
printf '%s\n' "$@" | xargs -P "$jobs" --process-slot-var=TEST_SLOT -I{} bash -c '
  f={}; log="$logs/$(echo "$f" | tr / _).log"
  JAX_COMPILATION_CACHE_DIR="$cache-$TEST_SLOT" "$py" -m pytest -q --durations=3 "$f" \
    > "$log" 2>&1 || echo "$f" >> "$logs/FAILED"
  { echo "== $f"; cat "$log"; } | cat'
if [ -s "$logs/FAILED" ]; then
  echo "FAILED: $(sort "$logs/FAILED" | tr '\n' ' ')"
  exit 1
fi
