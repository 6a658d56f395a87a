# make install: the venv with pinned dependencies; make run: the whole system; make test: every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

KAFKA_LIB := .cache/kafka/4.1.1/lib

.PHONY: install system-deps deploy-deps browser-deps kafka run demo test deploy-test lint unit integration e2e bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# What the tests need from the system, from Debian's packages: PostgreSQL's server binaries (the
# tests start a throwaway cluster of their own), Java 17 and Maven (Apache Kafka from Maven Central),
# Chromium and npm (browser tests), docker-compose (the compose file's checks) and promtool (the
# alert rules' checks and unit tests, from Debian's prometheus). Each is asked for
# only when its tool is missing, package by package: a machine whose Node.js brings its own npm must
# not be given Debian's npm (the two conflict and apt then installs nothing at all).
missing = $(if $(shell which $(1) 2>/dev/null),,$(2))
MISSING_PACKAGES := $(strip \
  $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) \
  $(call missing,java,openjdk-17-jdk-headless) \
  $(call missing,mvn,maven) \
  $(call missing,chromium,chromium) \
  $(call missing,npm,npm) \
  $(call missing,docker-compose,docker-compose) \
  $(call missing,promtool,prometheus))
system-deps:
ifneq ($(MISSING_PACKAGES),)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING_PACKAGES)
else
	@echo "system-deps: PostgreSQL, Java, Maven, Chromium, npm, docker-compose and promtool are all present"
endif

# What `make deploy-test` adds: podman (runc: crun refuses hybrid cgroups), debootstrap for the
# base image, curl for podman's API socket; each only when missing, as above.
MISSING_DEPLOY_PACKAGES := $(strip \
  $(call missing,podman,podman) \
  $(call missing,runc,runc) \
  $(call missing,debootstrap,debootstrap) \
  $(call missing,curl,curl))
deploy-deps: system-deps
ifneq ($(MISSING_DEPLOY_PACKAGES),)
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING_DEPLOY_PACKAGES)
endif

# Apache Kafka 4.1.1 and its runtime dependencies, pinned in deploy/kafka/pom.xml, copied from Maven
# Central into an ignored cache (rucnet.kafka_node starts it with `java -cp`).
kafka: $(KAFKA_LIB)/kafka_2.13-4.1.1.jar

$(KAFKA_LIB)/kafka_2.13-4.1.1.jar: deploy/kafka/pom.xml | install
	$(BIN)/python -c "from rucnet.kafka_node import ensure_kafka_lib; ensure_kafka_lib()"

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

test: install system-deps kafka browser-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The real docker-compose.yml under podman + docker-compose, tested from outside (tests/deploy,
# which `make test` does not collect); see deploy/test/run.sh and docs/operations.md.
deploy-test: install deploy-deps
	deploy/test/run.sh

unit: install
	$(BIN)/python -m pytest -q tests/unit

integration: install system-deps kafka
	$(BIN)/python -m pytest -q tests/integration

e2e: install system-deps kafka browser-deps
	$(BIN)/python -m pytest -q tests/e2e

bench: install system-deps kafka
	$(BIN)/python bench/run.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^rucnet' > requirements.lock

clean:
	rm -rf $(VENV) .rucnet .pytest_cache .mypy_cache .ruff_cache .cache/npm test-artifacts
