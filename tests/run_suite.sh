#!/usr/bin/env bash
# `make test`: every test file in a fresh process (small files a few to a process), TEST_JOBS
# processes at a time.
#
# Not one process for all: a single process that compiled every test's XLA programs crashed
# inside XLA (a segfault while serialising an executable, once some 120 tests had loaded
# theirs; each file passes alone), and a fresh process also keeps the files independent.
# Two at a time: most of a file's time is single-threaded XLA compilation, so two files share
# 2 cores well. Each slot has its own compilation cache folder (JAX writes cache entries
# without a lock unless eviction is configured), shared by the files that run in that slot.
# Files start longest first (their wall times in tests/durations.txt, from an earlier full
# run; a file not listed yet starts first if it has slow tests, last if not), so that the two
# slots finish close together; RECORD_DURATIONS=1 rewrites that file after a full run that
# passed (commit it when files were added, split or became slower). Tests marked
# `kill` (hard kills of real processes, two processes preparing data at once) run last, in
# one process alone on the machine, timed: how fast a killed run comes back is what they
# measure, and a test file on the other core doubled their time (issue 25: under 60 s on 2
# cores together; 49 to 69 s when they shared the machine).
# Usage: tests/run_suite.sh PYTHON JOBS CACHE_DIR [FILE...]; prints each file's output when
# it ends, then the ten slowest files and tests, the total wall time and the failed files;
# exit status 1 if any failed.
set -uo pipefail
suite_start=$EPOCHREALTIME
py=$1 jobs=$2 cache=$3
shift 3
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
durations=tests/durations.txt
full_run=$([ $# -eq 0 ] && echo 1)
if [ $# -eq 0 ]; then
  timed=$(find tests -name 'test_*.py' | sort | while read -r f; do
    t=$(awk -v f="$f" '$2 == f { print $1 }' "$durations" 2>/dev/null)
    [ -n "$t" ] || { grep -q 'mark.slow' "$f" && t=100000 || t=0; }
    echo "$t $f"
  done | sort -k1,1gr -k2,2)
  set -- $(echo "$timed" | awk '{ print $2 }')
  # Files recorded under 15 s share a process, up to 45 s of recorded time each: a fresh
  # process costs about 2 s (Python, jax, pytest) before its first test, a third of a small
  # file's time. Not when recording durations, which are each file's own.
  if [ "${RECORD_DURATIONS:-0}" = 1 ]; then
    jobs_list=$(printf '%s\n' "$@")
  else
    jobs_list=$(echo "$timed" | awk -v below=15 -v cap=45 '
      $1 >= below { print $2; next }
      { if (n && sum + $1 > cap) { print line; line = ""; sum = 0; n = 0 }
        line = line (n ? " " : "") $2; sum += $1; n++ }
      END { if (n) print line }')
  fi
else
  jobs_list=$(printf '%s\n' "$@")
fi
# Every program in the slot's compilation cache, not only those that took a second to compile
# (JAX's default): each file's many small programs (initialisers, PRNG splits, the tiny
# networks' steps) are the same from file to file, and loading them beats compiling them
# (test_validation 31 -> 24 s after test_estimators in one cache). Subprocesses inherit it.
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export py cache logs
# Each line of jobs_list is one process: one file, or several small ones.
printf '%s\n' "$jobs_list" | xargs -P "$jobs" --process-slot-var=TEST_SLOT -I{} bash -c '
  f="{}"; set -- $f; log="$logs/$(echo "$1" | tr / _)+$#.log"
  start=$EPOCHREALTIME
  JAX_COMPILATION_CACHE_DIR="$cache-$TEST_SLOT" "$py" -m pytest -q --durations=10 --durations-min=1 \
    -m "not kill" $f > "$log" 2>&1
  rc=$?  # 5: every test of the file is marked kill, it runs below
  awk -v a="$start" -v b="$EPOCHREALTIME" -v f="$f" -v s="$TEST_SLOT" \
    "BEGIN { printf \"%7.1f s  slot %s  %s\\n\", b - a, s, f }" >> "$logs/TIMES"
  [ $rc -eq 0 ] || [ $rc -eq 5 ] || echo "$f" >> "$logs/FAILED"
  { echo "== $f"; cat "$log"; } | cat'
kill_files=$(grep -l 'mark.kill' "$@")
if [ -n "$kill_files" ]; then
  echo "== kill tests, alone:" $kill_files
  start=$EPOCHREALTIME
  JAX_COMPILATION_CACHE_DIR="$cache-0" "$py" -m pytest -q --durations=5 -m kill $kill_files
  rc=$?
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "kill tests took %.1f s (target: under 60 s on 2 cores)\n", b - a }'
  [ $rc -eq 0 ] || [ $rc -eq 5 ] || echo "kill tests" >> "$logs/FAILED"
fi
echo "== ten slowest files (wall time, with the other slot busy):"
sort -rn "$logs/TIMES" | head -10
echo "== ten slowest tests (pytest --durations, each file's ten slowest):"
grep -hE '^[0-9.]+s (call|setup|teardown) ' "$logs"/*.log | sort -rn | head -10
awk -v a="$suite_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "suite took %.1f s (make test, with its set-up: under 15 min on 2 cores)\n", b - a }'
if [ -s "$logs/FAILED" ]; then
  echo "FAILED: $(sort "$logs/FAILED" | tr '\n' ' ')"
  exit 1
fi
if [ "${RECORD_DURATIONS:-0}" = 1 ] && [ -n "$full_run" ]; then
  awk '{ print $1, $5 }' "$logs/TIMES" | sort -k2,2 > "$durations"
  echo "wrote $durations"
fi
