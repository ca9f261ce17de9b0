# The verbs a newcomer looks for. Everything runs inside .venv (made on first use).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck check bench services clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install and serve on http://127.0.0.1:8000 (embedded SQLite + in-process Redis unless DATABASE_URL/REDIS_URL are set)
run: $(STAMP)
	$(BIN)/python -m app

## test: install, make sure PostgreSQL and Redis are up, run lint, import contract and the whole suite
test: $(STAMP)
	bash scripts/ensure-services.sh
	$(BIN)/ruff check app tests loadtests
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests loadtests
	$(BIN)/ruff format --check app tests loadtests

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m loadtests.bench_engine

services:
	bash scripts/ensure-services.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache pricing.db
