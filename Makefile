# Guichet — every command installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py src/guichet/bal/_cells.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Guichet with its dev tools

run: $(STAMP) ## Start the embedded default (database, API, worker) on 127.0.0.1:8000
	$(BIN)/guichet serve

test: $(STAMP) browser ## Run every test
	$(BIN)/pytest

# The console's browser tests need Debian's chromium: installed when missing and possible
# (root, apt-get); otherwise those tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (browser tests)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| echo "chromium could not be installed: the browser tests will skip"; \
	fi

lint: $(STAMP) ## ruff + mypy + import contracts
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) ## Run the benchmarks and write BENCHMARKS.md
	$(BIN)/python bench/run.py $(ARGS)

.PHONY: help install run test browser lint bench
