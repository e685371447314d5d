# The README, CI (.ci/run) and GitHub Actions all run these targets.
#   make run   - set up .venv and run the whole pipeline (`dvc repro`)
#   make test  - set up .venv and run the test suite (unit, integration, end-to-end)
PYTHON ?= python3
# The one Python that pyproject.toml's requires-python allows (tests/unit/test_makefile.py
# keeps the two equal); checked before anything is downloaded.
PYTHON_VERSION := 3.11
VENV   ?= .venv
# What `make setup` installs. CI passes a copy without the CUDA packages (.github/workflows/ci.yml).
REQUIREMENTS ?= requirements.lock
# Extra `dvc repro` options for `make run`: CI passes --pull when a DVC remote is configured.
REPRO_FLAGS ?=
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Stages run `python -m pipelines.<stage>`: put the venv's python first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run fashion test test-slow test-postgres test-browser test-all docs lint bench metrics clean

$(STAMP): $(REQUIREMENTS) pyproject.toml
	@found=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	if [ "$$found" != "$(PYTHON_VERSION)" ]; then \
	  echo "error: imgclf needs Python $(PYTHON_VERSION) (pyproject.toml requires-python), but" \
	    "PYTHON=$(PYTHON) is $${found:-not found}; install Python $(PYTHON_VERSION) and choose it," \
	    "e.g. make run PYTHON=python$(PYTHON_VERSION)" >&2; \
	  exit 2; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(REQUIREMENTS)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)

run: setup
	$(BIN)/dvc repro $(REPRO_FLAGS)
	$(BIN)/dvc metrics show

# The Fashion-MNIST profile (profiles/fashion-mnist.yaml) as a DVC experiment in the working
# tree: params.yaml, dvc.lock and metrics.json are left holding its results
# (`dvc exp show` lists it; `git checkout params.yaml && dvc repro` goes back to the digits).
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
fashion: setup
	@test -f $(FASHION_DIR)/train-images-idx3-ubyte.gz || { echo "error: no Fashion-MNIST in \
	$(FASHION_DIR); install it with: sudo apt-get install dataset-fashion-mnist" >&2; exit 2; }
	overrides=$$($(BIN)/imgclf profile profiles/fashion-mnist.yaml) && $(BIN)/dvc exp run $$overrides
	$(BIN)/dvc metrics show

test: setup
	$(BIN)/pytest

# Suites that take minutes or need a server; .ci/run calls them on purpose.
test-slow: setup
	$(BIN)/pytest -m slow

test-postgres: setup
	$(BIN)/pytest -m postgres

# The MLflow UI of a fresh `dvc repro`, rendered by headless Chromium (apt-get install chromium).
test-browser: setup
	$(BIN)/pytest -m browser

# The README's pictures in docs/, from the finished `make run` here (reports/, mlflow.db):
# MLflow UI screenshots (needs chromium), the augmentation preview, the confusion matrix, the
# study's optimization history and the DAG.
docs: setup
	$(BIN)/python -m docs.pictures

test-all: setup
	$(BIN)/pytest -m ""

lint: setup
	$(BIN)/ruff check src pipelines tests bench docs
	$(BIN)/ruff format --check src pipelines tests bench docs
	$(BIN)/mypy src

# Figures for BENCHMARKS.md, each side by side with its ratio (a few minutes on 2 cores).
bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_train.py
	@if [ -d $(FASHION_DIR) ]; then \
	  $(BIN)/python bench/bench_train.py --data fashion-mnist --idx-dir $(FASHION_DIR) \
	    --train-images 10000 --epochs 2; \
	else echo "Fashion-MNIST bench skipped: apt-get install dataset-fashion-mnist"; fi
	$(BIN)/python bench/bench_pruning.py

# The long one: bench_train.py on Fashion-MNIST with the profile's params (minutes on 2 CPU
# cores). Needs Debian's data: apt-get install dataset-fashion-mnist.
.PHONY: bench-fashion
bench-fashion: setup
	@test -d $(FASHION_DIR) || { echo "error: no $(FASHION_DIR); install it with: \
	sudo apt-get install dataset-fashion-mnist" >&2; exit 2; }
	$(BIN)/python bench/bench_train.py --data fashion-mnist --idx-dir $(FASHION_DIR)

metrics: setup
	$(BIN)/dvc metrics show
	$(BIN)/dvc plots show

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
