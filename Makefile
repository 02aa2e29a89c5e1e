# The front door. Every target installs what it needs first, so a fresh clone needs only
# Python 3.11, Node.js and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install dev test test-js test-web test-fast lint fuzz synth deploy bench bench-presence bench-fanout bench-cold layer clean ci chromium screenshots protocol-docs

LAMBDA_WHEELS := build/lambda-wheels
LAMBDA_WHEELS_STAMP := $(LAMBDA_WHEELS)/.downloaded

install: $(STAMP) $(NODE_STAMP) $(LAMBDA_WHEELS_STAMP) chromium

$(STAMP): pyproject.toml layers/tidings-core/pyproject.toml clients/python/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e layers/tidings-core -e clients/python -e '.[dev]'
	@touch $@

# Lambda's builds (glibc 2.17) of the layer's compiled dependencies whose installed build needs
# a newer glibc (cryptography): the layer build unpacks these offline (tidings_infra/lambda_wheels.py).
$(LAMBDA_WHEELS_STAMP): $(STAMP)
	$(BIN)/python -m tidings_infra.lambda_wheels $(LAMBDA_WHEELS)
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The browser tests' Chromium: Debian's package, never Playwright's own download (`playwright
# install` is not used). Installed with apt-get when missing (as root, or with sudo); elsewhere,
# install Chromium yourself and point CHROMIUM at it. The emoji font is for the screenshots.
CHROMIUM ?= /usr/bin/chromium
export TIDINGS_CHROMIUM := $(CHROMIUM)

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "warning: no Chromium at $(CHROMIUM) and no apt-get: install Chromium, then run make CHROMIUM=/path/to/chromium (the browser tests need it)" >&2; \
	  else \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	    else echo "error: installing Chromium needs root or sudo" >&2; exit 1; fi; \
	    echo "installing Debian's chromium for the browser tests"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	  fi; \
	fi

# The JavaScript client SDK's dev dependencies (its tests' WebSocket and IndexedDB, TypeScript for tsc).
JS_CLIENT := clients/js
JS_CLIENT_STAMP := $(JS_CLIENT)/node_modules/.installed

$(JS_CLIENT_STAMP): $(JS_CLIENT)/package.json $(JS_CLIENT)/package-lock.json
	cd $(JS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: $(STAMP)
	$(BIN)/tidings dev --demo

# The suite on every core (TEST_WORKERS=1 for one process); tests/conftest.py keeps each module on
# one worker.
TEST_WORKERS ?= auto

test: install $(JS_CLIENT_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup
	cd $(JS_CLIENT) && npm test
	cd $(WEB_CLIENT) && npm test

# The JavaScript SDK alone: unit tests, then end to end against `tidings dev` (.venv/bin/tidings).
test-js: $(STAMP) $(JS_CLIENT_STAMP)
	cd $(JS_CLIENT) && npm test

# The fuzz suite with many random examples (make test runs few, the same each time); no per-test
# timeout, since a test is thousands of examples.
fuzz: install
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/fuzz --timeout=0

# The web client alone: its unit tests (Node, no dependencies), then the browser tests.
WEB_CLIENT := clients/web

test-web: $(STAMP) chromium
	cd $(WEB_CLIENT) && npm test
	$(BIN)/python -m pytest -q tests/browser tests/local/test_static.py

# docs/screenshots/*.png: the web client's main views, from a tidings dev with demo users talking.
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.browser.screenshots

# docs/asyncapi.yaml and docs/openapi.yaml, generated from the wire models (tests/unit/test_protocol_docs.py
# fails while a committed one is stale).
protocol-docs: $(STAMP)
	$(BIN)/python -m tidings_local.protocol_docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/tidings-core/tidings local/tidings_local infra functions
	$(BIN)/lint-imports
	MYPYPATH=clients/python/src $(BIN)/mypy -p tidings_client

# Writes the CloudFormation template to cdk.out/ without AWS credentials or Docker.
synth: install
	npx cdk synth --quiet

deploy: install
	npx cdk deploy

bench: $(STAMP)
	$(BIN)/python -m tidings_local.bench

bench-presence: $(STAMP)
	$(BIN)/python -m tidings_local.bench_presence

# One message to chats of 10 to 10,000 members through the Delivery consumer: calls, cost, modelled time.
bench-fanout: $(STAMP)
	$(BIN)/python -m tidings_local.bench_fanout

# Import time and module count of every synthesized function, loaded as Lambda loads it.
bench-cold: synth
	$(BIN)/python -m tidings_local.bench_cold

clean:
	rm -rf $(VENV) node_modules $(JS_CLIENT)/node_modules cdk.out build .pytest_cache .mypy_cache .ruff_cache .hypothesis
