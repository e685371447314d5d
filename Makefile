# The README, CI (.ci/run) and GitHub Actions all run these targets.
#   make run   - set up .venv and run the whole pipeline (`dvc repro`)
#   make test  - set up .venv and run the test suite (unit, integration, end-to-end)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Stages run `python -m pipelines.<stage>`: put the venv's python first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run test test-slow test-postgres test-all lint bench metrics clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)

run: setup
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show

test: setup
	$(BIN)/pytest

# Suites that take minutes or need a server; .ci/run calls them on purpose.
test-slow: setup
	$(BIN)/pytest -m slow

test-postgres: setup
	$(BIN)/pytest -m postgres

test-all: setup
	$(BIN)/pytest -m ""

lint: setup
	$(BIN)/ruff check src pipelines tests bench
	$(BIN)/ruff format --check src pipelines tests bench
	$(BIN)/mypy src

bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_train.py

metrics: setup
	$(BIN)/dvc metrics show
	$(BIN)/dvc plots show

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
