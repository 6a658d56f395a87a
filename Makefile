# make install: the venv with pinned dependencies; make run: the whole system; make test: every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint unit integration e2e bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/rucnet dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared services rucnet
	$(BIN)/mypy shared services rucnet

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

e2e: install
	$(BIN)/python -m pytest -q tests/e2e

bench: install
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^rucnet' > requirements.lock

clean:
	rm -rf $(VENV) .rucnet .pytest_cache .mypy_cache .ruff_cache
