# `make demo` and `make test` work on a fresh machine with only python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Real MNIST digits for tests and benchmarks (never needed by the package itself).
export EQUIJAX_MNIST ?= $(abspath ../shared/data/mnist.npz)

.PHONY: demo test lint format bench clean

$(VENV)/.installed-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[examples]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base
	$(PY) -m pip install --quiet -e ".[examples,test]"
	touch $@

# The main job on the bundled sample (no download): a C4 steerable CNN trained on rotated MNIST.
demo: $(VENV)/.installed-base
	$(VENV)/bin/equijax-train --model c4 --epochs 10 --dataset sample

test: $(VENV)/.installed-test
	$(PY) -m ruff check equijax tests benchmarks
	$(PY) -m ruff format --check equijax tests benchmarks
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: $(VENV)/.installed-test
	$(PY) -m ruff check equijax tests benchmarks

format: $(VENV)/.installed-test
	$(PY) -m ruff format equijax tests benchmarks
	$(PY) -m ruff check --fix equijax tests benchmarks

bench: $(VENV)/.installed-base
	$(PY) benchmarks/kernel_bases.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
