# Everything runs from the project's own virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run realtime test lint format worker beat migrate bench bench-dashboard bench-realtime

install: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# HTTP and the WebSocket on one port (Daphne's runserver).
run: migrate
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# The production WebSocket server (uvicorn) on its own port, as docker/compose.yaml runs it.
realtime: migrate
	$(BIN)/python manage.py realtime_serve --port 8002

test: install
	ENVIRONMENT=test $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install
	$(BIN)/celery -A config worker --loglevel=info

beat: migrate
	$(BIN)/celery -A config beat --loglevel=info

# Load benchmark on the local PostgreSQL and Redis (wrk from Debian's package when installed).
bench: install
	$(BIN)/python -m bench.run

# The staff dashboard's uncached render with 10,000 users and 100,000 AI usage rows (PostgreSQL).
bench-dashboard: install
	$(BIN)/python -m bench.dashboard

# One realtime process (manage.py realtime_serve) under 5,000 sockets: idle CPU, memory per
# socket, a connect storm, ping round trips and fan-out through Redis (PostgreSQL and Redis).
bench-realtime: install
	$(BIN)/python -m bench.realtime
