# The Makefile is the interface: run, test, lint, bench, build, deploy. Every target sets itself up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.12: prefer pyenv's 3.12 when the machine has it, else any python3 >= 3.11.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3) $(shell command -v python3.12 python3))
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SCAN_VENV := .venv-scan
# Offline and quiet: no update check, no download of Prisma Cloud guidelines.
CHECKOV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(SCAN_VENV)/bin/checkov --skip-download --quiet --compact
SAM := SAM_CLI_TELEMETRY=0 PYENV_VERSION=$(shell ls $(PYENV_ROOT)/versions 2>/dev/null | grep -E '^3\.1[123]\.' | paste -sd: -) $(SAM_VENV)/bin/sam
PORT ?= 3000
ENV ?= default

.PHONY: help setup deps run test lint check unit local-tests integration e2e bench openapi messages build deploy clean

help:
	@echo "make run    - serve eid-broker offline on http://127.0.0.1:$(PORT) with built-in provider sandboxes"
	@echo "make test   - lint, template/ASL checks and security scans (checkov, bandit), unit, integration and end-to-end tests"
	@echo "make bench  - concurrent sessions through the local stack: calls, transitions, latency, cost"
	@echo "make unit   - the fast loop: product unit tests and template checks (make local-tests, make integration, make e2e: the other layers)"
	@echo "make build / make deploy ENV=prod - sam build / sam deploy"

$(VENV)/.installed: requirements-dev.txt layers/broker/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	touch $@

# checkov pins its own boto3 (and much else), so the scanners live in their own venv (.venv-scan).
$(SCAN_VENV)/.installed: requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	echo '*' > $(SCAN_VENV)/.gitignore
	$(SCAN_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-scan.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	exec $(BIN)/python -m local --port $(PORT)

# Style, the import layers (import-linter, pyproject.toml) and the types (mypy, pyproject.toml).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/broker $(BIN)/lint-imports --no-cache
	$(BIN)/mypy

check: $(VENV)/.installed $(SAM_VENV)/.installed $(SCAN_VENV)/.installed node_modules/.installed
	$(SAM) validate --lint
	$(BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules --ignore-checks WS1004
	npx --no-install asl-validator --json-path statemachines/session_poll.asl.json
	$(CHECKOV) --config-file .checkov.yaml -f template.yaml
	$(SCAN_VENV)/bin/bandit -q -r layers functions

# The fast loop: the product's unit tests and the template checks, no network socket (pytest-socket), the
# minute-long race sweep left to `make test` (-m "not slow").
unit: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit tests/infra -q -n 2 -m "not slow" --disable-socket

# The offline tooling's own tests (emulator, sandboxes, bench arithmetic, demo page).
local-tests: $(VENV)/.installed
	$(BIN)/python -m pytest tests/local -q -n 2

integration: $(VENV)/.installed
	$(BIN)/python -m pytest tests/integration -q -n 2 --dist loadfile

e2e: $(VENV)/.installed
	$(BIN)/python -m pytest tests/e2e -q -n 2 --dist loadfile

# A fresh clone installs its toolchains side by side (mostly downloads and unpacking), then tests.
deps:
	@$(MAKE) -j4 --no-print-directory $(VENV)/.installed $(SAM_VENV)/.installed $(SCAN_VENV)/.installed \
	  node_modules/.installed chromium apache

test: deps lint check
	$(BIN)/python -m pytest -q --timeout=300 -n 2 --dist loadfile --durations=12

# The demo page's browser tests drive Debian's chromium: installed once where the machine lets us (root and
# apt-get), else they skip. Never fails the build.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  export DEBIAN_FRONTEND=noninteractive && { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends chromium; } >/dev/null 2>&1; } || \
	  echo "chromium could not be installed (needs root and apt-get): the browser tests will skip"

# The OIDC relying-party test runs Apache's mod_auth_openidc (an OpenID-certified client): Debian's
# packages, installed like chromium (root and apt-get), else that test skips. Never fails the build.
# After chromium: two apt-get runs at once (make -j) would fight over dpkg's lock.
.PHONY: apache
apache: chromium
	@{ command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ]; } && [ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  export DEBIAN_FRONTEND=noninteractive && { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends apache2 libapache2-mod-auth-openidc; } >/dev/null 2>&1; } || \
	  echo "apache2/mod_auth_openidc could not be installed (needs root and apt-get): that OIDC test will skip"

bench: $(VENV)/.installed
	$(BIN)/python -m local.bench $(BENCH_ARGS)

openapi: $(VENV)/.installed
	PYTHONPATH=layers/broker $(BIN)/python -m local.openapi > openapi.json

# The hosted login page's texts: every `_()` of its code and templates (babel.cfg), merged into each
# language's catalogue. A new text arrives untranslated; tests/unit/test_oidc_page.py names it.
LOCALES_DIR := layers/broker/eid_broker/oidc/locales
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k _ --no-location --omit-header -w 110 -o .messages.pot .
	for lang in et ru lt lv; do \
	  $(BIN)/pybabel -q update -i .messages.pot -l $$lang -o $(LOCALES_DIR)/$$lang.po -N --ignore-obsolete -w 110 || exit 1; \
	done; rm -f .messages.pot

build: $(SAM_VENV)/.installed
	$(SAM) build

deploy: build
	$(SAM) deploy --config-env $(ENV)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV) .aws-sam node_modules .pytest_cache .ruff_cache
