# Two commands on a fresh machine with Python 3.11:
#   make demo   installs docloop and runs the demo (trains a plate model, then serves it)
#   make test   installs the dev tools and runs lint + the test suite
#   make image-test  builds the docloop-api and docloop-trainer images with podman (long; not CI)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install dev demo serve test lint format bench image-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The demo trains a model, so it installs the training extra (PyTorch) too.
install: $(BIN)/python
	$(BIN)/pip install -q -e '.[train]'

dev: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,train]'

demo: install
	$(BIN)/docloop demo

serve: install
	$(BIN)/docloop serve

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: dev lint
	$(BIN)/pytest -q

format: dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install
	$(BIN)/python benchmarks/serving.py

# Builds both images from a debootstrapped Debian root and checks readiness and a prediction.
image-test:
	bash scripts/image_test.sh
