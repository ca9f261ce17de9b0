# The verbs a newcomer looks for. Everything runs inside .venv (made on first use).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install engine run test check lint format typecheck imports bench services clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## engine: compile the pricing engine (app/rules) with mypyc into build/engine; skipped without a
## C compiler, rebuilt only when its sources changed. The pure-Python engine always works:
## a missing or stale build is not used (app/native.py); PRICING_ENGINE=pure ignores it.
engine: $(STAMP)
	$(BIN)/python scripts/build_engine.py

## run: install and serve on http://127.0.0.1:8000 (embedded SQLite + in-process Redis unless DATABASE_URL/REDIS_URL are set)
run: $(STAMP)
	$(BIN)/python -m app

## test: install, make sure PostgreSQL and Redis are up, run every check (make check), build the
## compiled engine when a C compiler is there, then the whole suite (against that build)
test: check engine
	bash scripts/ensure-services.sh
	$(BIN)/pytest

## check: the fast guard rails, no services needed: lint, format check, mypy strict, import contracts
check: lint typecheck imports

## lint: ruff's rules and ruff's format (checked, not applied; `make format` applies it)
lint: $(STAMP)
	$(BIN)/ruff check app tests loadtests
	$(BIN)/ruff format --check app tests loadtests

format: $(STAMP)
	$(BIN)/ruff format app tests loadtests

## typecheck: mypy strict on app/
typecheck: $(STAMP)
	$(BIN)/mypy

## imports: the import-linter contracts of pyproject.toml
imports: $(STAMP)
	rm -rf .import_linter_cache
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m loadtests.bench_engine

services:
	bash scripts/ensure-services.sh

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .import_linter_cache pricing.db
