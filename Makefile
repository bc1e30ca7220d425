# GridMap: `make run` sets everything up and serves the demo; `make test` sets up and runs all tests.
# With DATABASE_URL=postgis://… set, both use that database and leave the local cluster alone.
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PORT ?= 8000
# The venv is rebuilt only when requirements.txt changes.
VENV_STAMP := $(VENV)/.installed

.PHONY: run test stop sysdeps venv db migrate demo static lint format bench serve

sysdeps:
	@scripts/sysdeps.sh

$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

venv: sysdeps $(VENV_STAMP)

db: sysdeps
ifeq ($(strip $(DATABASE_URL)),)
	@scripts/localdb.sh start
else
	@echo "Using DATABASE_URL; the local cluster is not started."
endif

migrate: venv db
	@$(PY) manage.py migrate --noinput -v 0

demo: migrate
	@$(PY) manage.py load_demo
	@$(PY) manage.py create_demo_users
	@# The first time about 30 s; afterwards only circles missing or computed at another speed.
	@$(PY) manage.py build_service_circles --stale

static: venv
	@$(PY) manage.py collectstatic --noinput -v 0

run: demo static
	@echo "GridMap on http://127.0.0.1:$(PORT)/  (Ctrl-C to stop; 'make stop' stops the database)"
	@# --timeout: a sync worker's timeout covers a whole streamed export (1,000,000 buildings take
	@# ~6 s to produce, longer to a slow client); 30 s would cut such downloads off.
	@$(VENV)/bin/gunicorn project.wsgi --bind 127.0.0.1:$(PORT) --workers 3 --timeout 600 \
	  --access-logfile - --error-logfile -

test: venv db static
	@$(PY) -m pytest $(PYTEST_ARGS)

stop:
	@scripts/localdb.sh stop

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: venv
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

bench: migrate
	@# tipg, which the exchange part compares with, in its own venv (bench/.venv-tipg).
	@scripts/bench-tipg.sh
	@$(PY) bench/run.py $(BENCH_ARGS)
