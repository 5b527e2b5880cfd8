# orderledger: `make run` starts everything, `make test` tests everything.
# Both install what they need first (uv, then the locked dependencies).

SHELL := /bin/bash
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
PYTEST_ARGS ?=

.PHONY: help install run test test-unit test-integration test-e2e chaos bench compose-check clean

help:
	@echo "make run    start PostgreSQL, Redis, the API and a worker; prints the URL and a dev API key"
	@echo "make test   run every test (unit, integration, end-to-end) against real servers"
	@echo "make chaos  run only the fault-injection tests (kill workers and the API, stop Redis)"
	@echo "make bench  run the benchmarks and write BENCHMARKS.md"

# uv comes from PyPI into a private venv when the machine has none.
$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

install: $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv)
	$(UV) sync --frozen --quiet

run: install
	$(UV) run --frozen orderledger run

test: install
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: install
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(UV) run --frozen pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(UV) run --frozen pytest tests/e2e $(PYTEST_ARGS)

# Fault injection only: kill workers and the API, stop Redis, and check that no work is lost.
chaos: install
	$(UV) run --frozen pytest tests/faults $(PYTEST_ARGS)

bench: install
	$(UV) run --frozen python -m tests.bench

compose-check:
	docker compose config --quiet 2>/dev/null || docker-compose config --quiet

clean:
	rm -rf .data $(TOOLS)
