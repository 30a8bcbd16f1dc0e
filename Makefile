# Two commands do everything on a fresh machine: `make meta-train` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= experiments/configs/default.py
WORKDIR ?= runs/$(basename $(notdir $(CONFIG)))
# Compiled XLA programs are cached on disk: reruns and the test suite skip recompiling.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax
export PYTHONPATH := $(CURDIR)

.PHONY: meta-train test bench data venv clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# Fashion-MNIST from Debian (root + apt). Without them the loaders say so and the default
# config falls back to scikit-learn's digits.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || \
	    [ -n "$$METAUNSUP_DATA" -a -f "$$METAUNSUP_DATA/fashion-mnist/train-images-idx3-ubyte.gz" ]; then \
	  echo "data: Fashion-MNIST present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) || \
	    echo "data: could not install dataset-fashion-mnist; runs will fall back to sklearn digits"; \
	else \
	  echo "data: Fashion-MNIST missing and cannot install it (need root + apt-get:"; \
	  echo "      sudo apt-get install dataset-fashion-mnist); runs will fall back to sklearn digits"; \
	fi

meta-train: venv data
	$(PY) -m metaunsup.train --config=$(CONFIG) --workdir=$(WORKDIR)

test: venv data
	$(PY) -m pytest -q tests

# Throughput, utilisation and meta-gradient memory; writes bench/results.{json,md}.
bench: venv
	$(PY) -m experiments.benchmarks.run --out bench

clean:
	rm -rf $(VENV) .cache runs
