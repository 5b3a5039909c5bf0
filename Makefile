# IVIG Clinic. `make run` starts the demo clinic; `make test` runs the tests.
# Both create .venv and install the pinned requirements first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEV := DEBUG=1
# Compiled modules are cached under var/pycache, outside the source tree, even where the environment says
# PYTHONDONTWRITEBYTECODE: without a cache every process compiles the project again and pytest rewrites every
# test module again (about 10 s of CPU per test process here, and the suite starts several).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/var/pycache

.PHONY: install install-dev browser run migrate seed test lint format clean
.PHONY: load
.PHONY: bench
.PHONY: backup restore

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "IVIG Clinic needs Python 3.11 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(DEV) $(BIN)/python manage.py migrate --noinput

seed: migrate
	$(DEV) $(BIN)/python manage.py seed_demo

## run: set up, load the demo clinic and start the web app with a Celery worker and beat (Ctrl-C stops all)
run: seed
	$(DEV) scripts/run-dev

## browser: Debian's Chromium for the real-browser tests (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: install Debian's 'chromium' package for the browser tests"; fi; }

## test: set up and run the whole test suite (SQLite and the filesystem broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise):
## everything but the browser tests on TEST_WORKERS processes (pytest-xdist), then the browser tests on as many, a test
## module per worker (each worker its own test database, live server and Chromium); scripts/test-suite says why in turn and
## not side by side. Every test database is a copy of one migrated template (ivig_clinic/migrated_template.py; TEST_DB_TEMPLATE=0 migrates
## each from empty). On a machine whose CPUs are busy with other work, TEST_WORKERS=0 is faster: one process.
TEST_WORKERS ?= 2
test: install-dev browser
	$(BIN)/lint-imports --no-cache
	TEST_WORKERS=$(TEST_WORKERS) scripts/test-suite

## load: wrk (Debian's package) through nginx (Debian's nginx-light) against 3 gunicorn instances of 2 workers
## (the compose layout, production settings, PostgreSQL at 127.0.0.1:5432 with scratch database ivig_load, Redis
## at 127.0.0.1:6379 for the cache): dashboard, patient list, week view, patient detail and the dose API, each
## LOAD_DURATION (30s); any error fails it
load: install
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is missing: install Debian's 'wrk' package for the load test"; exit 1; fi; }
	scripts/load-test

## bench: seed a synthetic clinic (1,000 then 10,000 patients) in a scratch database recreated on each run, and
## print page timings (3 repetitions), query counts, the dashboard against its own SQL replayed, the reminder sweep
## and the targets, each met or NOT MET. SQLite at var/bench.sqlite3;
## `make bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/ivig_bench` for PostgreSQL (the name must contain
## "bench"; only a DATABASE_URL given on the command line counts). BENCH_ARGS="--sizes 1000 10000 50000" adds
## 50,000 patients (minutes of seeding: run it on a quiet machine); BENCH_ARGS="--sizes 1000 --requests 20" to look quickly.
BENCH_DATABASE_URL = $(if $(filter command line,$(origin DATABASE_URL)),$(DATABASE_URL),sqlite:///$(CURDIR)/var/bench.sqlite3)
# DEBUG off needs a real key: a fresh random one per run (the bench signs nothing that outlives it).
BENCH_ENV = DATABASE_URL=$(BENCH_DATABASE_URL) DEBUG=0 PRODUCTION= SECRET_KEY="$${SECRET_KEY:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')}"
bench: install
	$(BIN)/python scripts/bench-db reset "$(BENCH_DATABASE_URL)"
	$(BENCH_ENV) $(BIN)/python manage.py migrate --noinput -v 0
	$(BENCH_ENV) $(BIN)/python manage.py bench $(BENCH_ARGS)

## backup: back up the database the app uses (DATABASE_URL, or SQLite under var/) into BACKUP_DIR (var/backups),
## keeping the newest BACKUP_KEEP (14). PostgreSQL: pg_dump custom format; SQLite: the online backup API.
## restore: `make restore BACKUP=var/backups/ivig-clinic-<time>.dump` replaces the whole database (it asks first).
## Without SECRET_KEY in the environment both run with the development settings (DEBUG=1), as `make run` does.
BACKUP_DIR ?= var/backups
BACKUP_KEEP ?= 14
MANAGE_ENV = $(if $(SECRET_KEY),,$(DEV))
backup: install
	$(MANAGE_ENV) $(BIN)/python manage.py backup --dir "$(BACKUP_DIR)" --keep $(BACKUP_KEEP)

restore: install
	@test -n "$(BACKUP)" || { echo "Say which backup: make restore BACKUP=var/backups/ivig-clinic-<time>.dump"; exit 1; }
	$(MANAGE_ENV) $(BIN)/python manage.py restore "$(BACKUP)"

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
