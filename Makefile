# Everything runs from the project's own virtualenv in .venv. `make` alone lists the targets.
#
# Each target's description is the `## ` comment line right above it: `make help` prints them, and
# tests/test_makefile.py checks that every target has one and is .PHONY.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where `make run` serves (HTTP and the WebSocket on one port).
ADDR ?= 127.0.0.1:8000
# Test processes side by side (pytest-xdist): more than the cores, since many tests wait on the
# servers and workers they start.
TEST_WORKERS ?= 4
# Apply the migrations only when some are pending: `migrate --check` is a few seconds, a full
# migrate of a new database a minute or two (most of it dj-stripe's).
MIGRATE_IF_NEEDED = $(BIN)/python manage.py migrate --check >/dev/null 2>&1 || { \
	echo "Applying database migrations (a new database takes a minute or two)..."; \
	$(BIN)/python manage.py migrate --noinput; }

.DEFAULT_GOAL := help
.PHONY: help install run demo realtime test lint format worker beat migrate bench bench-dashboard \
	bench-realtime bench-memory bench-coldstart

## List the targets with what each does (the default goal).
help:
	@echo "Usage: make <target>"
	@echo
	@awk '/^## /{desc = substr($$0, 4); next} \
		/^[a-zA-Z0-9][a-zA-Z0-9_-]*:([^=]|$$)/ { \
			if (desc != "") { split($$0, rule, ":"); printf "  %-16s %s\n", rule[1], desc } } \
		{desc = ""}' $(MAKEFILE_LIST)

## Create .venv and install requirements/dev.txt (again only when a requirements file changes).
install: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt
	@test -d $(VENV) || { echo "Creating the virtualenv .venv ($$($(PYTHON) --version))"; \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --upgrade pip
	@echo "Installing requirements/dev.txt: about 200 packages with their dependencies, a few" \
		"minutes the first time..."
	$(BIN)/pip install --no-compile -r requirements/dev.txt
	@# Byte-compiled here on every core (pip compiles one file at a time); like pip, a file that
	@# does not compile is left to fail when imported.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
	@touch $(STAMP)
	@echo "Done: .venv is ready."

## Apply the database migrations and sync the periodic tasks of Celery beat.
migrate: install
	$(BIN)/python manage.py migrate --noinput

# One process migrates when needed, prints the banner and starts the server (see welcome.py).
## Serve HTTP and the WebSocket on http://127.0.0.1:8000 (Daphne), after a start-up banner.
run: install
	$(BIN)/python manage.py welcome --migrate --serve $(ADDR)

## Seed demo data (customers, plans, projects, files, AI usage...) and print a staff sign-in.
demo: install
	@$(MIGRATE_IF_NEEDED)
	$(BIN)/python manage.py demo

## The production WebSocket server (uvicorn) on port 8002, as docker/compose.yaml runs it.
realtime: install
	@$(MIGRATE_IF_NEEDED)
	$(BIN)/python manage.py realtime_serve --port 8002

# The test processes (pytest-xdist workers, the servers and commands tests start) share compiled
# bytecode and pytest's rewritten test modules in __pycache__, whatever PYTHONDONTWRITEBYTECODE
# the shell has: each would otherwise compile them all again.
## Run the test suite (embedded: SQLite, in-memory cache, eager tasks) and list the slowest tests.
test: install
	ENVIRONMENT=test PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -p tests.parallel \
		-n $(TEST_WORKERS) --dist worksteal --durations=15

## Lint, format check, types, the import contract and missing migrations.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

## Fix what ruff can and format the code.
format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## A Celery worker (needs REDIS_URL or CELERY_BROKER_URL; without them tasks run in the web process).
worker: install
	$(BIN)/celery -A config worker --loglevel=info

## Celery beat, the scheduler of the periodic tasks.
beat: migrate
	$(BIN)/celery -A config beat --loglevel=info

## Load benchmark on the local PostgreSQL and Redis (wrk from Debian's package when installed).
bench: install
	$(BIN)/python -m bench.run

## The staff dashboard's uncached render with 10,000 users and 100,000 AI usage rows (PostgreSQL).
bench-dashboard: install
	$(BIN)/python -m bench.dashboard

## One realtime process under 5,000 sockets: CPU, memory, connect storm, fan-out (PostgreSQL, Redis).
bench-realtime: install
	$(BIN)/python -m bench.realtime

## A web worker's import-time memory per phase, app and package (PostgreSQL, Redis).
bench-memory: install
	$(BIN)/python -m bench.memory

## A fresh clone's make install, migrate (SQLite, PostgreSQL) and make run to its first response.
bench-coldstart: install
	$(BIN)/python -m bench.coldstart

.PHONY: docs docs-build

## Serve the documentation site on http://127.0.0.1:8001, rebuilt on every change.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve -a 127.0.0.1:8001

## Build the documentation site into site/ with --strict (any warning fails).
docs-build: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

.PHONY: schema client

# Settings that shape the schema, blanked so that neither the environment nor .env changes the
# committed file: it documents the default configuration.
SCHEMA_ENV := ENVIRONMENT=test APP_VERSION= FILE_MAX_BYTES= FILE_ALLOWED_CONTENT_TYPES= \
	AI_MAX_TOKENS= AI_MODEL_PRICES=
CLIENT := clients/typescript

## Regenerate the committed OpenAPI schema (openapi.json), validated, warnings as errors.
schema: install
	env -i PATH="$$PATH" HOME="$$HOME" $(SCHEMA_ENV) $(BIN)/python manage.py spectacular \
		--validate --fail-on-warn --format openapi-json --file openapi.json.tmp
	@# Replaced in one step: a test reading it meanwhile sees the old file or the new one.
	echo >> openapi.json.tmp && mv openapi.json.tmp openapi.json

## TypeScript client (clients/typescript): npm ci, types from openapi.json, tsc --noEmit.
client: $(CLIENT)/node_modules/.package-lock.json
	cd $(CLIENT) && node_modules/.bin/openapi-typescript ../../openapi.json -o src/schema.d.ts
	cd $(CLIENT) && node_modules/.bin/tsc --noEmit

$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund
