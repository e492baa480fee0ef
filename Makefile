# The one way to run, test and check Phoenix. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: bench run test lint format deps test-deps migrations-check clean stack stack-stop drills rehearse tools lint-infra screenshots

## run: install what is missing, migrate the embedded SQLite database, seed demo data, serve on :8000
run: deps
	@DJANGO_DEBUG=1 $(PY) manage.py migrate --no-input -v0
	@DJANGO_DEBUG=1 $(PY) manage.py compilemessages -v0 --ignore=.venv
	@DJANGO_DEBUG=1 $(PY) manage.py seed_demo --if-empty --shipments 300
	@echo "Serving Phoenix on http://127.0.0.1:$(PORT)/  (admin: DJANGO_DEBUG=1 $(PY) manage.py createsuperuser)"
	@DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)

## test: install test needs, start the local MariaDB writer+replica, run the whole suite
test: test-deps lint lint-infra migrations-check
	deploy/local/run-tests.sh

## bench: the performance benchmark (BENCH_SCALE=20000 for a quick run); writes docs/performance.md
bench: test-deps
	$(PY) deploy/local/bench.py
	$(PY) deploy/local/bench_instructions.py --write

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

test-deps: deps node_modules/.installed
	deploy/local/bootstrap.sh test

## stack: local HA stack (writer+replica, HAProxy endpoints and ALB, two gunicorn instances); see docs/stack.md
stack: deps
	deploy/local/bootstrap.sh stack
	deploy/local/stack.sh start

## stack-stop: stop the stack `make stack` started and remove its directory (.stack/)
stack-stop:
	deploy/local/stack.sh stop

## drills: fault drills under load on a throw-away stack; writes docs/reliability.md
drills: deps
	deploy/local/bootstrap.sh stack
	$(PY) deploy/local/drills.py --report docs/reliability.md

## rehearse: every CloudFormation stack of docs/deploy.md created in order on a moto server (loopback), the
## resources moto cannot model shimmed and listed, exports and imports checked; writes docs/rehearsal.md
rehearse: test-deps
	$(PY) -m deploy.rehearse

## tools: the infrastructure linters in their own virtualenv (checkov's pins never meet the app's)
TOOLS := .venv-tools
tools: $(TOOLS)/.installed

$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

## lint-infra: cfn-lint and checkov on every template, shellcheck, packer validate, hadolint
lint-infra: tools test-deps
	$(TOOLS)/bin/cfn-lint deploy/cloudformation/*.yaml
	CKV_SKIP_PACKAGE_UPDATE_CHECK=True $(TOOLS)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -d deploy/cloudformation
	shellcheck $$(find deploy -name '*.sh') .ci/run
	$(TOOLS)/bin/hadolint Dockerfile
	@archive="$$(mktemp --suffix=.tar.gz)"; trap 'rm -f "$$archive"' EXIT; \
		git archive --format=tar.gz -o "$$archive" HEAD && \
		packer validate -var app_archive="$$archive" deploy/packer/phoenix.pkr.hcl && \
		echo "packer validate: deploy/packer/phoenix.pkr.hcl is valid"

# axe-core for the accessibility scans, pinned in package.json; no lock file (it would name the registry).
node_modules/.installed: package.json
	deploy/local/bootstrap.sh test
	npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

## screenshots: refresh docs/screenshots/ (lookup and detail pages, desktop and phone, English and Spanish)
screenshots: test-deps
	PHOENIX_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots deploy/local/run-tests.sh tests/tracking/site/test_screenshots.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis staticfiles node_modules
