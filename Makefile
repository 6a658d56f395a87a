# make install: the venv with pinned dependencies; make run: the whole system; make test: every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps browser-deps run demo test lint unit integration e2e bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# What the tests need from the system: Debian's Chromium and npm (browser tests) and docker-compose
# (static check of the compose file). PostgreSQL is the machine's own (127.0.0.1:5432).
system-deps:
	@command -v chromium >/dev/null && command -v docker-compose >/dev/null && command -v npm >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose npm; }

# axe-core (pinned) for the accessibility checks of the browser tests, in an ignored folder.
AXE_VERSION := 4.11.0
AXE := .cache/npm/node_modules/axe-core/axe.min.js
browser-deps: $(AXE)
$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@$(AXE_VERSION)

run: install
	$(BIN)/rucnet dev

# With `make run` going in another terminal: Skolverket's 2020 data set through the API.
demo: install
	$(BIN)/rucnet demo 2020

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared services rucnet
	$(BIN)/mypy shared services rucnet

test: install system-deps browser-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

e2e: install browser-deps
	$(BIN)/python -m pytest -q tests/e2e

bench: install
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^rucnet' > requirements.lock

clean:
	rm -rf $(VENV) .rucnet .pytest_cache .mypy_cache .ruff_cache .cache/npm test-artifacts
