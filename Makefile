# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test chromium java system deps dbt test-fast check lint format typecheck bench clean

# pip is upgraded first (a current pip installs these wheels in half the time of the one a
# venv brings); --no-compile leaves the byte code of the modules a run imports to be written
# on first import instead of compiling all 9,000 files of the venv.
PIP_INSTALL = python -m pip install --quiet --no-compile --disable-pip-version-check
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "headgate needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL) --upgrade pip
	$(BIN)/$(PIP_INSTALL) -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/headgate demo demo-shop

# Reports print to PDF, and browser tests run, with Debian's chromium (a system package,
# never downloaded at run time). Installed here when missing and apt-get can; else the
# tests that need it skip with a message (CI, with HEADGATE_REQUIRE_SERVICES=1, fails).
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium (PDF reports, browser tests)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || \
	  echo "could not install chromium: PDF tests will not run"; \
	else echo "no chromium (install Debian's chromium package): PDF tests will not run"; fi

# Spark tests run a local Spark, which needs Java 17+ (Debian's openjdk-17-jre-headless,
# installed here when missing and apt-get can); without it they skip saying so (CI fails).
java:
	@if command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's openjdk-17-jre-headless (Spark tests)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1; } || \
	  echo "could not install Java: Spark tests will not run (no java on PATH, JAVA_HOME unset)"; \
	else echo "no Java (java not on PATH, JAVA_HOME unset): Spark tests will not run; install a JDK 17+"; fi

# dbt runs as an external step in a venv of its own: dbt-core pins pathspec<0.13, which
# the dev tools (mypy) have outgrown, so the two cannot share one environment.
DBT_VENV ?= .venv-dbt
DBT_STAMP := $(DBT_VENV)/.installed
$(DBT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/$(PIP_INSTALL) --upgrade pip
	$(DBT_VENV)/bin/$(PIP_INSTALL) 'dbt-core>=1.10,<1.12' 'dbt-duckdb>=1.9'
	@touch $(DBT_STAMP)
dbt: $(DBT_STAMP)

# Everything `make test` needs, for `make -j3 -O deps` (as CI runs it): the two venvs install
# side by side with the system packages, which go one after the other (one apt-get at a time).
system:
	@$(MAKE) --no-print-directory chromium
	@$(MAKE) --no-print-directory java
deps: $(STAMP) $(DBT_STAMP) system

# Every tier: fast, services, slow, spark, browser (and the doctests in src/). WORKERS: pytest
# processes side by side (at 2 they keep 2 cores about half busy: many tests wait on servers
# and processes; try `make test WORKERS=3`).
WORKERS ?= 2
test: $(STAMP) chromium java $(DBT_STAMP)
	HEADGATE_DBT=$(abspath $(DBT_VENV))/bin/dbt $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not services and not slow and not spark and not browser"

format: $(STAMP)
	$(BIN)/ruff format src tests bench

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-shop
