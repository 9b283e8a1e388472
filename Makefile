# Heimdall: `make run` serves it, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Tests run on PostgreSQL and Redis; these are the local defaults.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/heimdall
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-fast fuzz lint check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py load_demo_stations
	$(BIN)/python manage.py ensure_default_models
	@echo "Heimdall on http://127.0.0.1:$(PORT)/ (admin: /admin/, API docs: /api/v1/docs/)"
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) heimdall.asgi:application

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite without the tests marked slow (real servers, workers, browsers).
test-fast: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# schemathesis over the whole OpenAPI schema, as admin, operator and viewer, against a
# live daphne on PostgreSQL + Redis (its own database, dropped after): .ci/fuzz.py.
FUZZ_SECONDS ?= 60
FUZZ_REDIS_URL ?= redis://127.0.0.1:6379/14
fuzz: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(FUZZ_REDIS_URL) \
	$(BIN)/python .ci/fuzz.py --seconds $(FUZZ_SECONDS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

check: install
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
