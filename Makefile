# The README, CI (.ci/run) and GitHub Actions all run these targets.
#   make run   - set up .venv and run the whole pipeline (`dvc repro`)
#   make test  - set up .venv and run the test suite (unit, integration, end-to-end)
#   make ui / make dashboard - the MLflow UI / optuna-dashboard on the local stores
#   make mlflow-server       - the team's tracking server (MLFLOW_BACKEND_STORE_URI=postgresql://...)
#   make bench / make bench-scale - BENCHMARKS.md's figures / each stage's time and memory at N, 4N
#   make bench-photos             - the whole DAG on 3,000 photos of 64 px, only data.* changed
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

.PHONY: setup run fashion test test-slow test-postgres test-browser test-all docs lint bench \
        bench-scale metrics clean mlflow-server ui dashboard

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

# After `dvc repro`, the stages DVC skipped because their outputs are committed (a fresh clone)
# run again when the local MLflow store has no run of them, so `make ui` shows every stage,
# the trials and the champion; their outputs come out the same (imgclf/missing_runs.py).
run: setup
	$(BIN)/dvc repro $(REPRO_FLAGS)
	@missing=$$($(BIN)/imgclf missing-runs) || exit 2; if [ -n "$$missing" ]; then \
	  echo "MLflow's local store has no run of: $$missing; running them again"; \
	  $(BIN)/dvc repro --force --single-item $$missing || exit 2; fi
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

# The MLflow UI after `make run` on a fresh copy, rendered by headless Chromium (apt-get install chromium).
test-browser: setup
	$(BIN)/pytest -m browser

# The guides' pictures that no stage writes, into docs/ from the finished `make run` here
# (mlflow.db): MLflow UI screenshots (needs chromium) and the DAG.
docs: setup
	$(BIN)/python -m docs.pictures

test-all: setup
	$(BIN)/pytest -m ""

lint: setup
	$(BIN)/ruff check src pipelines tests bench docs
	$(BIN)/ruff format --check src pipelines tests bench docs
	$(BIN)/mypy src pipelines bench docs

# Figures for BENCHMARKS.md, each side by side with its ratio (a few minutes on 2 cores).
bench: setup
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_train.py --repeats 3
	@if [ -d $(FASHION_DIR) ]; then \
	  $(BIN)/python bench/bench_train.py --data fashion-mnist --idx-dir $(FASHION_DIR) \
	    --train-images 10000 --epochs 2 --repeats 2; \
	else echo "Fashion-MNIST bench skipped: apt-get install dataset-fashion-mnist"; fi
	$(BIN)/python bench/bench_pruning.py --seeds 42 0 1 2 3 4
	$(BIN)/python bench/bench_select.py --seeds 0 1 2 3 4
	@if [ -d $(FASHION_DIR) ]; then $(BIN)/python bench/bench_select.py --data fashion-mnist \
	  --idx-dir $(FASHION_DIR) --seeds 0 1 2 --max-epochs 4 --subset 3000 1000 2000; fi
	@if [ -d $(FASHION_DIR) ]; then $(BIN)/python bench/bench_decode.py --path $(FASHION_DIR); \
	else $(BIN)/python bench/bench_decode.py --source digits; fi

# Every stage's wall time and peak anonymous memory (over its process tree) at N and 4N
# generated photos, the DVC cache's object count and `dvc status` time, with the 4N/N ratios
# Long at the default (10,000 then 40,000 images); a smoke run: BENCH_SCALE_ARGS="--images 300 --size 32 --no-4x".
BENCH_SCALE_ARGS ?= --images 10000 --size 64
bench-scale: setup
	$(BIN)/python -m bench.bench_scale $(BENCH_SCALE_ARGS)

# Photos at 64 px with only data.* changed: the whole DAG's test accuracy, baseline and wall
# time, the study's share of it, then the plain-loop reference on the same split (about half an
# hour on 2 cores). BENCH_PHOTOS_ARGS="--rev 899e269" runs the DAG of another commit.
.PHONY: bench-photos
bench-photos: setup
	$(BIN)/python -m bench.bench_photos $(BENCH_PHOTOS_ARGS)

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

# A team's tracking server: PostgreSQL backend store, artifacts uploaded and downloaded
# through the server (--serve-artifacts), so clients need no access to the artifact store.
# Configured by the variables `mlflow server` reads itself; MLFLOW_HOST=0.0.0.0 exposes it
# (turn on MLFLOW_SERVER_APP=basic-auth first: docs/mlflow-server.md).
MLFLOW_SERVER_APP ?=
mlflow-server: setup
	@test -n "$$MLFLOW_BACKEND_STORE_URI" || { echo "error: MLFLOW_BACKEND_STORE_URI is not set; \
	set it to the team's database, e.g. MLFLOW_BACKEND_STORE_URI=postgresql://mlflow@localhost/mlflow \
	make mlflow-server" >&2; exit 2; }
	MLFLOW_ARTIFACTS_DESTINATION="$${MLFLOW_ARTIFACTS_DESTINATION:-./mlartifacts}" \
	MLFLOW_HOST="$${MLFLOW_HOST:-127.0.0.1}" MLFLOW_PORT="$${MLFLOW_PORT:-5000}" \
	exec $(BIN)/mlflow server --serve-artifacts $(if $(MLFLOW_SERVER_APP),--app-name $(MLFLOW_SERVER_APP))

# The MLflow UI on the local store the stages log to by default (imgclf/tracking/store.py's
# LOCAL_STORE), and optuna-dashboard on the tune stage's local study (dvc.yaml's
# paths.optuna_db) or on IMGCLF_OPTUNA_STORAGE when set; both on loopback only.
UI_PORT ?= 5000
ui: setup
	exec $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port $(UI_PORT)

STUDY_STORAGE ?= $(or $(IMGCLF_OPTUNA_STORAGE),sqlite:///models/optuna.db)
DASHBOARD_PORT ?= 8080
dashboard: setup
	@test "$(STUDY_STORAGE)" != sqlite:///models/optuna.db || test -f models/optuna.db || { \
	echo "error: no study in models/optuna.db yet; run \`make run\` (or \`dvc repro tune\`) first, \
	or name another storage: make dashboard STUDY_STORAGE=models/optuna.journal" >&2; exit 2; }
	exec $(BIN)/optuna-dashboard --host 127.0.0.1 --port $(DASHBOARD_PORT) "$(STUDY_STORAGE)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
