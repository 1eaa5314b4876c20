# Every target creates the virtualenv and installs on first use; nothing is needed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/

.PHONY: install migrate demo up status down compose-tool browser-tool test lint bench cli-schema clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(BIN)/python -m shared.migrate

demo: install
	$(BIN)/python -m devtools.demo

# The platform in the background (logs/ has a log and a PID file per process).
# `make up OFFLINE=1` also starts the simulated Bybit and points the ingest at it.
up: install
	$(BIN)/python -m devtools.local_stack up --engines $(or $(ENGINES),2) $(if $(OFFLINE),--offline)

status: install
	$(BIN)/python -m devtools.local_stack status

down: install
	$(BIN)/python -m devtools.local_stack down

# The compose file is checked with Debian's docker-compose (no Docker engine needed).
compose-tool:
	@command -v docker-compose >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

# Debian's Chromium, driven by playwright for the docs page test (no browser is downloaded).
browser-tool:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install compose-tool browser-tool
	$(BIN)/python -m pytest -p no:cacheprovider -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(BIN)/python -m bench

# The command line's options come from the API's request schemas: after a request field is
# added or changed, regenerate cli/request_schema.json (a unit test fails while it is stale).
cli-schema: install
	$(BIN)/python -m devtools.cli_request_schema

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
