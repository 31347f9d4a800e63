# One entry point for set-up, tests, demo and benchmarks. Every target installs what it
# needs on a fresh Debian machine with only Python 3.10+.
VENV    ?= .venv
PY      := $(VENV)/bin/python
# Here the CPU build of torch 2.13.0 is on local disk; elsewhere pip fetches it from PyPI.
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.medl-installed

.PHONY: help setup setup-system setup-python lint test test-python demo clean

help:
	@echo "make test   - install everything, lint, run the whole test suite"
	@echo "make demo   - install everything, run the demo on simulated data (demo_out/)"

setup: setup-system setup-python

setup-system:
	bash scripts/install-system.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,r]"
	touch $(STAMP)

setup-python: setup-system $(STAMP)

lint: setup-python
	$(VENV)/bin/ruff check python tests
	$(VENV)/bin/ruff format --check python tests

test-python: setup-python
	$(PY) -m pytest -q tests

test: lint test-python

demo: setup-python
	$(VENV)/bin/medl demo --out demo_out

clean:
	rm -rf $(VENV) demo_out .pytest_cache
