# Two commands on a fresh machine with Python 3.11:
#   make demo   installs docloop and runs the demo (trains a plate model, then serves it)
#   make test   installs the dev tools and runs lint + the test suite
#   make image-test  builds the docloop-api and docloop-trainer images with podman (long; not CI)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: install dev demo serve test lint format bench docs image-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The demo trains a model, so it installs the training extra (PyTorch) too.
install: $(BIN)/python
	$(BIN)/pip install -q -e '.[train]'

dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,train,pipelines]'

demo: install
	$(BIN)/docloop demo --port $(PORT)

serve: install
	$(BIN)/docloop serve

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# axe-core (npm, pinned in package-lock.json): the browser tests inject it to check accessibility.
AXE := node_modules/axe-core/axe.min.js
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error || echo "no npm: the axe checks will be skipped"

test: dev lint $(AXE)
	$(BIN)/pytest -q

format: dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install
	$(BIN)/python benchmarks/serving.py

# The documentation site, warnings as errors (a broken link or a missing page fails).
docs: $(BIN)/python
	$(BIN)/pip install -q -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Builds both images from a debootstrapped Debian root and checks readiness and a prediction.
image-test:
	bash scripts/image_test.sh
