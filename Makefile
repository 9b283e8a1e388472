# Heimdall: `make run` serves it, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Tests run on PostgreSQL and Redis; these are the local defaults.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/heimdall
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-fast fuzz lint check bench clean vendor screenshots sdk-python sdk-js

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
	$(BIN)/python manage.py load_demo_stations
	$(BIN)/python manage.py ensure_default_models
	@# Last before serving: where the console is, who logs in, the first run's password.
	@$(BIN)/python manage.py ensure_admin --banner http://127.0.0.1:$(PORT)
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) heimdall.asgi:application

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Screenshots of every console page for docs/console.md, taken by the browser tests
# (headless chromium against a live daphne; PostgreSQL + Redis as for `make test`).
screenshots: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) HEIMDALL_SCREENSHOTS=docs/console \
	$(BIN)/python -m pytest tests/dashboard/test_browser.py -k every_page $(PYTEST_ARGS)

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

# The Python SDK and the `heimdall` CLI (sdk/python) against a live daphne + both
# django-q2 clusters (.ci/live_server.py, its own database). The short API-key rate
# window and token lifetime let the suite see real 429s, refreshes and 4401 drops
# in seconds; login/refresh get room for the suite's own logins.
# The live server's base database and Redis: DATABASE_URL / REDIS_URL when set (a helper
# worktree's own, from /work/tools/wtenv), else the test defaults.
LIVE_DATABASE_URL ?= $(or $(DATABASE_URL),$(TEST_DATABASE_URL))
LIVE_REDIS_URL ?= $(or $(REDIS_URL),$(FUZZ_REDIS_URL))
SDK_LIVE_ENV := --env HEIMDALL_RATE_LIMIT_API_KEY=40/s --env HEIMDALL_ACCESS_TOKEN_LIFETIME=8 \
	--env HEIMDALL_RATE_LIMIT_LOGIN_ADDRESS=600/min
sdk-python: install
	$(BIN)/pip install --quiet ./sdk/python
	DATABASE_URL=$(LIVE_DATABASE_URL) REDIS_URL=$(LIVE_REDIS_URL) \
	$(BIN)/python .ci/live_server.py $(SDK_LIVE_ENV) -- $(BIN)/python -m pytest sdk/python/tests $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

check: install
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

# The JavaScript SDK (sdk/js): npm ci, tsc, then its node tests against a live daphne +
# workers (.ci/live_server.py), with a 20/s per-key rate limit and 6 s access tokens so the
# 429 retries, token refresh and socket re-authentication are exercised.
sdk-js: install
	cd sdk/js && npm ci --no-audit --no-fund && npm run build
	DATABASE_URL=$(LIVE_DATABASE_URL) REDIS_URL=$(LIVE_REDIS_URL) $(BIN)/python .ci/live_server.py \
	  --env HEIMDALL_RATE_LIMIT_API_KEY=20/s --env HEIMDALL_ACCESS_TOKEN_LIFETIME=6 \
	  -- bash -c 'node --test sdk/js/test/*.test.mjs'

# The console's front-end libraries (Leaflet, uPlot, htmx, topojson-client, world-atlas)
# from npm into static/vendor/, with versions and licences in static/vendor/VERSIONS.md.
# The files are committed: `make run` needs no internet.
vendor:
	bash scripts/vendor.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
