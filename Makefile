# The one way to run, test and check Phoenix. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: bench run test lint format deps test-deps migrations-check clean

## run: install what is missing, migrate the embedded SQLite database, seed demo data, serve on :8000
run: deps
	@DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input -v0
	@DJANGO_DEBUG=1 $(PY) manage.py compilemessages -v0 --ignore=.venv
	@DJANGO_DEBUG=1 $(PY) manage.py seed_demo --if-empty --shipments 300
	@echo "Serving Phoenix on http://127.0.0.1:$(PORT)/  (admin: DJANGO_DEBUG=1 $(PY) manage.py createsuperuser)"
	@DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)

## test: install test needs, start the local MariaDB writer+replica, run the whole suite
test: test-deps lint migrations-check
	deploy/local/run-tests.sh

## bench: the performance benchmark (BENCH_SCALE=20000 for a quick run); writes docs/performance.md
bench: test-deps
	$(PY) deploy/local/bench.py

## lint: ruff (lint and format check)
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: deps
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: deps
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

deps: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt deploy/local/bootstrap.sh
	deploy/local/bootstrap.sh run
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

test-deps: deps
	deploy/local/bootstrap.sh test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis staticfiles
