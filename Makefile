# Kronos — `make run` for the demo, `make test` for the suite.
SHELL := /bin/bash
PY := .venv/bin/python
PIP := .venv/bin/pip
# The suite runs on PostgreSQL and Redis; override for a different place.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/kronos
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# pytest-xdist workers: two by default (32 minutes in one process, under 25 on two: most of its
# time is waiting on servers and workers); TEST_WORKERS=0 runs it in one process, in its fixed order.
TEST_WORKERS ?= 2
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) SECRET_KEY=test-secret-key DEBUG=false DATABASE_SYNCHRONOUS_COMMIT=false

.PHONY: help install run migrate seed worker test test-fast lint typecheck security bench simulate clean build-check

help:
	@echo "make run        install, migrate, seed the demo firm and serve it (SQLite, embedded Celery)"
	@echo "make test       the whole suite on PostgreSQL and Redis, with coverage"
	@echo "make worker     a Celery worker with beat against REDIS_URL / CELERY_BROKER_URL"
	@echo "make simulate   a simulated firm day by day with its invariants (SIM_ARGS=...)"
	@echo "make lint | typecheck | security | bench"

.venv/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	touch $@

install: .venv/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	./scripts/run_embedded.sh

worker: install
	.venv/bin/celery -A kronos worker -B --loglevel INFO

test: install
	./scripts/ensure_services.sh
	# The whole suite, the 60-day firm simulation with faults (tests/simulation) included
	# (TEST_WORKERS pytest-xdist workers, each with its own test database and Redis database).
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

test-fast: install
	$(TEST_ENV) $(PY) -m pytest -x -q -m "not browser and not slow" $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports --no-cache

typecheck: install
	$(PY) -m mypy accounts portfolios trading compliance operations onboarding notifications reports kronos sandboxes demo

security: install
	$(PY) -m bandit -q -c pyproject.toml -r accounts portfolios trading compliance operations onboarding notifications reports kronos sandboxes demo
	./scripts/audit_deps.sh

build-check:
	./deploy/build.sh

# A simulated firm on a scratch database (PostgreSQL, Redis): SIM_ARGS are simulate_firm's options.
SIM_ARGS ?= --accounts 100 --days 60 --seed 1 --faults
simulate: install
	./scripts/ensure_services.sh
	$(TEST_ENV) $(PY) -m bench.bench_simulation $(SIM_ARGS)

bench: install
	./scripts/ensure_services.sh bench
	$(TEST_ENV) $(PY) -m bench

clean:
	rm -rf var .venv .coverage htmlcov
